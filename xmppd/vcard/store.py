"""
vCards (XEP-0054 vcard-temp), with the SHA-1 of the photo (XEP-0153) kept
beside the vCard so that presence can carry it without parsing the vCard.
"""

from zope.interface import Interface, implementer

from xmppd.storage.registry import SQLStore


class IVCardStore(Interface):
    """XEP-0054: an account's vCard and its photo's hash (XEP-0153)."""

    def get(owner):
        """Fire ``(xml, photoHash)``, or None."""

    def set(owner, xml, photoHash=""):
        """Store or replace the vCard."""

    def delete(owner):
        """Remove the vCard if any."""


@implementer(IVCardStore)
class VCardStore(SQLStore):
    accountTables = [("vcards", "owner")]

    def get(self, owner):
        """(vCard XML, photo hash) or None."""
        d = self.database.runQuery(
            "SELECT xml, photo_hash FROM vcards WHERE owner = ?", (owner,))
        d.addCallback(lambda rows: (rows[0][0], rows[0][1]) if rows else None)
        return d

    def set(self, owner, xml, photoHash=""):
        sql = self.database.engine.upsert("vcards", ("owner",), ("xml", "photo_hash"))
        d = self.database.runOperation(sql, (owner, xml, photoHash or ""))
        d.addCallback(lambda _: None)
        return d

    def delete(self, owner):
        d = self.database.runOperation("DELETE FROM vcards WHERE owner = ?", (owner,))
        d.addCallback(lambda _: None)
        return d
