"""
Private XML storage (XEP-0049): one element per account and namespace.

The element is kept as the client serialised it, so that what a client gets
back is what it stored, byte for byte where the parser allows.
"""

from zope.interface import Interface, implementer

from xmppd.storage.interfaces import PrivateStorageFull
from xmppd.storage.registry import SQLStore


class IPrivateXMLStore(Interface):
    """XEP-0049: one XML element per account and namespace."""

    def get(owner, namespace):
        """Fire the element's XML, or None."""

    def set(owner, namespace, xml, maxNamespaces=None):
        """Store or replace; a new namespace past ``maxNamespaces`` fails
        with PrivateStorageFull."""

    def namespaces(owner):
        """Fire the sorted namespaces stored for ``owner``."""


@implementer(IPrivateXMLStore)
class PrivateXMLStore(SQLStore):
    accountTables = [("private_xml", "owner")]

    def get(self, owner, namespace):
        """The stored element's XML, or None."""
        d = self.database.runQuery(
            "SELECT xml FROM private_xml WHERE owner = ? AND namespace = ?", (owner, namespace))
        d.addCallback(lambda rows: rows[0][0] if rows else None)
        return d

    def set(self, owner, namespace, xml, maxNamespaces=None):
        """Store ``xml`` under ``namespace``; PrivateStorageFull past ``maxNamespaces``."""
        return self.database.runInteraction(self._set, owner, namespace, xml, maxNamespaces)

    def _set(self, transaction, owner, namespace, xml, maxNamespaces):
        if maxNamespaces is not None:
            # Two sets of new namespaces racing may both pass: the bound is
            # against a client filling the disk, and one over it does not.
            rows = transaction.execute(
                "SELECT namespace FROM private_xml WHERE owner = ?", (owner,)).fetchall()
            stored = {row[0] for row in rows}
            if namespace not in stored and len(stored) >= maxNamespaces:
                raise PrivateStorageFull(maxNamespaces)
        transaction.execute(
            transaction.engine.upsert("private_xml", ("owner", "namespace"), ("xml",)),
            (owner, namespace, xml))

    def namespaces(self, owner):
        d = self.database.runQuery(
            "SELECT namespace FROM private_xml WHERE owner = ? ORDER BY namespace", (owner,))
        d.addCallback(lambda rows: [row[0] for row in rows])
        return d
