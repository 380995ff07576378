"""
Last activity (XEP-0012): when each account's last resource went offline.

One row per account, overwritten at each logout: the question asked is only
ever "how long ago", never a history.
"""

from zope.interface import Interface, implementer

from xmppd.storage.registry import SQLStore


class ILastActivityStore(Interface):
    """XEP-0012: each account's last logout."""

    def get(jid):
        """Fire ``(logoutAt, status)`` (Unix seconds, text), or None."""

    def set(jid, logoutAt, status=""):
        """Record the account's last logout, replacing the previous one."""


@implementer(ILastActivityStore)
class LastActivityStore(SQLStore):
    accountTables = [("last_activity", "jid")]

    def get(self, jid):
        """(logout time in Unix seconds, status text), or None if never recorded."""
        d = self.database.runQuery(
            "SELECT logout_at, status FROM last_activity WHERE jid = ?", (jid,))
        d.addCallback(lambda rows: (int(rows[0][0]), rows[0][1]) if rows else None)
        return d

    def set(self, jid, logoutAt, status=""):
        sql = self.database.engine.upsert("last_activity", ("jid",), ("logout_at", "status"))
        d = self.database.runOperation(sql, (jid, int(logoutAt), status or ""))
        d.addCallback(lambda _: None)
        return d
