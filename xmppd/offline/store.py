"""
The offline module's own queue (IOfflineQueue): one row per stored stanza,
in arrival (id) order, with the stored copy in it.

A store checks the per-pair and per-user limits and inserts in the same
transaction while holding the recipient's lock, so a burst of concurrent
senders stores exactly up to a limit and never past it (SPEC §4). Which
limits apply to a message is the offline service's policy; what a limit
means (``exceededLimit``) is the queue contract's, in xmppd.api, for the
atomic insert and the unlocked look ahead alike, and for every queue.
Delivery reads with ``fetch`` and deletes by id only once the stanzas were
sent, so a crash between the two redelivers rather than loses a message.
"""

import time

from twisted.internet import defer
from zope.interface import implementer

from xmppd.api import IOfflineQueue, SQLStore, boundedLimit, deleteQueueRows, exceededLimit

from xmppd.offline.batch import Batcher, Pending

# The contract, and what a limit means, are the API's: a module may
# provide the queue the offline service stores in (IOfflineQueue).
IOfflineStore = IOfflineQueue


def openOfflineStore(database):
    """The ``offline`` store of ``Module(stores=...)``: in SQL, or in memory."""
    if database.backend == "memory":
        from xmppd.offline.memory import MemoryOfflineStore
        return MemoryOfflineStore()
    return OfflineStore(database)


def nowMicroseconds():
    return int(time.time() * 1_000_000)


def _deleteIds(transaction, ids, recipient=None):
    return deleteQueueRows(transaction, "offline_messages", ids, recipient)


def _deleteRowsOfRecipients(transaction, rows):
    """Delete rows ``(id, recipient, ...)``, each recipient's by its own key range."""
    ids = {}
    for row in rows:
        ids.setdefault(row[1], []).append(row[0])
    return sum(_deleteIds(transaction, recipientIds, recipient)
               for recipient, recipientIds in ids.items())


@implementer(IOfflineStore)
class OfflineStore(SQLStore):
    accountTables = [("offline_messages", "recipient"), ("offline_locks", "recipient")]
    # Stores commit in the order asked (Database.runOrdered).
    ordered = True

    def __init__(self, database):
        SQLStore.__init__(self, database)
        self.batcher = Batcher(
            database, "offline_messages",
            ("recipient", "sender", "stored_at", "expires_at", "xml"), _values,
            "offline_locks")

    def store(self, recipient, sender, xml, storedAt, expiresAt=None,
              pairLimit=None, userLimit=None, userBytesLimit=None, stanza=None,
              requireAccount=False):
        # Written with whatever else queued meanwhile (xmppd.offline.batch).
        return self.batcher.add(Pending(
            recipient, sender, xml, storedAt, expiresAt, boundedLimit(pairLimit),
            boundedLimit(userLimit), userBytesLimit, requireAccount))

    def wouldExceed(self, recipient, sender, pairLimit=None, userLimit=None):
        return self.database.runInteraction(
            self._overLimit, recipient, sender, boundedLimit(pairLimit), boundedLimit(userLimit))

    def _overLimit(self, transaction, recipient, sender, pairLimit, userLimit):
        """
        Name the limit one more row would pass, or None. Expired rows not yet
        swept still count: they occupy the queue until the sweep runs.
        """
        if (pairLimit is not None and pairLimit <= 0) or (userLimit is not None
                                                          and userLimit <= 0):
            # Passed by any count, the empty queue's included.
            return exceededLimit(pairLimit, userLimit, 0, 0)
        # Each count stops at its limit (LIMIT in a derived table), so a
        # large queue costs no more to check than a full one; both counts
        # travel in one round trip.
        counts, args = [], []
        if pairLimit is not None:
            counts.append("SELECT COUNT(*) FROM (SELECT 1 FROM offline_messages"
                          " WHERE recipient = ? AND sender = ? LIMIT ?) AS pair_rows")
            args += [recipient, sender, pairLimit]
        if userLimit is not None:
            counts.append("SELECT COUNT(*) FROM (SELECT 1 FROM offline_messages"
                          " WHERE recipient = ? LIMIT ?) AS user_rows")
            args += [recipient, userLimit]
        if not counts:
            return None
        row = list(transaction.execute(
            "SELECT " + ", ".join("(%s)" % count for count in counts), args).fetchone())
        pairCount = row.pop(0) if pairLimit is not None else 0
        userCount = row.pop(0) if userLimit is not None else 0
        return exceededLimit(pairLimit, userLimit, int(pairCount), int(userCount))

    def fetch(self, recipient, afterId=0, limit=100, now=None):
        if now is None:
            now = nowMicroseconds()
        return self.database.runQuery(
            "SELECT id, sender, xml FROM offline_messages"
            " WHERE recipient = ? AND id > ? AND (expires_at IS NULL OR expires_at > ?)"
            " ORDER BY id LIMIT ?",
            (recipient, afterId, now, limit))

    def delete(self, ids, recipient=None):
        """Fire how many of ``ids`` were deleted."""
        return self.database.runInteraction(_deleteIds, ids, recipient)

    def count(self, recipient):
        d = self.database.runQuery(
            "SELECT COUNT(*) FROM offline_messages WHERE recipient = ?", (recipient,))
        d.addCallback(lambda rows: int(rows[0][0]))
        return d

    def listMessages(self, recipient):
        return self.database.runQuery(
            "SELECT id, sender, stored_at, expires_at, xml FROM offline_messages"
            " WHERE recipient = ? ORDER BY id", (recipient,))

    def purge(self, recipient):
        return self.database.runOperation(
            "DELETE FROM offline_messages WHERE recipient = ?", (recipient,))

    def purgeExpired(self, now):
        return self.database.runInteraction(self._purgeExpired, now)

    def _purgeExpired(self, transaction, now):
        # A locking read, so that the rows reported are exactly the rows
        # this transaction deletes: a plain read could return a row that a
        # delivery is deleting at that moment, and its sender would hear of
        # an expiry for a message that was delivered.
        rows = transaction.execute(
            "SELECT id, recipient, sender, xml FROM offline_messages"
            " WHERE expires_at <= ? ORDER BY id" + transaction.engine.forUpdate(),
            (now,)).fetchall()
        _deleteRowsOfRecipients(transaction, rows)
        return rows

    def purgeOlderThan(self, cutoff):
        return self.database.runOperation(
            "DELETE FROM offline_messages WHERE stored_at < ?", (cutoff,))

    def export(self, afterId=0, limit=500):
        return self.database.runQuery(
            "SELECT id, recipient, sender, stored_at, expires_at, xml FROM offline_messages"
            " WHERE id > ? ORDER BY id LIMIT ?", (afterId, limit))

    def adopt(self, rows):
        rows = list(rows)
        if not rows:
            return defer.succeed(0)
        return self.database.runInteraction(_adopt, rows)


def _values(pending):
    return (pending.recipient, pending.sender, pending.storedAt, pending.expiresAt,
            pending.xml)


def _adopt(transaction, rows):
    transaction.executemany(
        "INSERT INTO offline_messages (recipient, sender, stored_at, expires_at, xml)"
        " VALUES (?, ?, ?, ?, ?)", rows)
    return len(rows)
