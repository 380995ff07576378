"""
Blocklists (XEP-0191): the JIDs each user blocked.

The blocking module keeps every list in memory (a check runs for every
stanza between two users, and must not wait on a query), so the store
offers what that needs: everything at start-up, then single writes.
"""

import hashlib

from twisted.internet import defer

from xmppd.storage.registry import SQLStore


def _hash(item):
    return hashlib.sha256(item.encode("utf-8")).hexdigest()


class BlocklistStore(SQLStore):
    accountTables = [("blocklist", "owner")]

    def all(self):
        """Fire {owner: set(items)} of every user who blocked anybody."""
        d = self.database.runQuery("SELECT owner, item FROM blocklist")

        def byOwner(rows):
            lists = {}
            for owner, item in rows:
                lists.setdefault(owner, set()).add(item)
            return lists

        d.addCallback(byOwner)
        return d

    def add(self, owner, items):
        if not items:
            return defer.succeed(None)
        sql = self.database.engine.upsert("blocklist", ("owner", "item_hash"), ("item",))
        return self.database.runInteraction(
            lambda t: t.executemany(sql, [(owner, _hash(i), i) for i in items]))

    def remove(self, owner, items=None):
        """Unblock ``items``, or everything when None."""
        if items is None:
            return self.database.runOperation(
                "DELETE FROM blocklist WHERE owner = ?", (owner,))
        return self.database.runInteraction(
            lambda t: t.executemany("DELETE FROM blocklist WHERE owner = ? AND item_hash = ?",
                                    [(owner, _hash(i)) for i in items]))
