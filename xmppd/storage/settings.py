"""
Per-user settings, addressed by (node, key) like Tigase's ``tig_pairs``:
the offline module keeps a user's own limit under node ``offline-msgs``,
key ``store-limit``.
"""

from zope.interface import implementer

from xmppd.storage.interfaces import ISettingsStore
from xmppd.storage.registry import SQLStore


@implementer(ISettingsStore)
class SettingsStore(SQLStore):
    accountTables = [("settings", "jid")]

    def get(self, jid, node, key):
        d = self.database.runQuery(
            "SELECT value FROM settings WHERE jid = ? AND node = ? AND name = ?",
            (jid, node, key))
        d.addCallback(lambda rows: rows[0][0] if rows else None)
        return d

    def set(self, jid, node, key, value):
        sql = self.database.engine.upsert("settings", ("jid", "node", "name"), ("value",))
        d = self.database.runOperation(sql, (jid, node, key, value))
        d.addCallback(lambda _: None)
        return d

    def delete(self, jid, node, key):
        d = self.database.runOperation(
            "DELETE FROM settings WHERE jid = ? AND node = ? AND name = ?",
            (jid, node, key))
        d.addCallback(lambda _: None)
        return d
