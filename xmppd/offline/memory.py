"""
The offline queue in Python objects, for ``[storage] backend = "memory"``:
the same IOfflineStore as ``store.OfflineStore`` -- ids that are never
handed out twice, id order, the limits as ``exceededLimit`` reads them,
expiry -- and nothing survives a restart.
"""

from twisted.internet import defer
from zope.interface import implementer

from xmppd.api import QuotaExceeded, exceededBytes
from xmppd.offline.store import IOfflineStore, exceededLimit, nowMicroseconds


def _size(xml):
    return len(xml.encode("utf-8"))


@implementer(IOfflineStore)
class MemoryOfflineStore:
    database = None
    # Every store is done when it returns.
    ordered = True

    def __init__(self):
        self.lastId = 0
        # recipient -> {id: (id, sender, storedAt, expiresAt, xml)}, in id order.
        self.queues = {}
        self.recipientOf = {}

    def _queue(self, recipient):
        return self.queues.get(recipient, {})

    def _over(self, recipient, sender, pairLimit, userLimit):
        queue = self._queue(recipient)
        pairCount = 0
        if pairLimit is not None:
            pairCount = sum(1 for row in queue.values() if row[1] == sender)
        return exceededLimit(pairLimit, userLimit, pairCount, len(queue))

    def store(self, recipient, sender, xml, storedAt, expiresAt=None,
              pairLimit=None, userLimit=None, userBytesLimit=None, stanza=None,
              requireAccount=False):
        # requireAccount: without a database, the caller checked (IOfflineQueue).
        over = self._over(recipient, sender, pairLimit, userLimit)
        if over is None and userBytesLimit is not None:
            queued = sum(_size(row[4]) for row in self._queue(recipient).values())
            over = exceededBytes(userBytesLimit, queued, _size(xml))
        if over is not None:
            return defer.fail(QuotaExceeded(over))
        self.lastId += 1
        rowId = self.lastId
        self.queues.setdefault(recipient, {})[rowId] = (
            rowId, sender, storedAt, expiresAt, xml)
        self.recipientOf[rowId] = recipient
        return defer.succeed(rowId)

    def wouldExceed(self, recipient, sender, pairLimit=None, userLimit=None):
        return defer.succeed(self._over(recipient, sender, pairLimit, userLimit))

    def fetch(self, recipient, afterId=0, limit=100, now=None):
        if now is None:
            now = nowMicroseconds()
        rows = []
        for rowId, sender, _storedAt, expiresAt, xml in self._queue(recipient).values():
            if len(rows) >= limit:
                break
            if rowId > afterId and (expiresAt is None or expiresAt > now):
                rows.append((rowId, sender, xml))
        return defer.succeed(rows)

    def _remove(self, rowId, ofRecipient=None):
        recipient = self.recipientOf.get(rowId)
        if recipient is None or ofRecipient not in (None, recipient):
            return False
        del self.recipientOf[rowId]
        queue = self.queues[recipient]
        del queue[rowId]
        if not queue:
            del self.queues[recipient]
        return True

    def delete(self, ids, recipient=None):
        return defer.succeed(sum(1 for rowId in set(ids) if self._remove(rowId, recipient)))

    def count(self, recipient):
        return defer.succeed(len(self._queue(recipient)))

    def listMessages(self, recipient):
        return defer.succeed(list(self._queue(recipient).values()))

    def purge(self, recipient):
        return defer.succeed(self._purge(recipient))

    def _purge(self, recipient):
        queue = self.queues.pop(recipient, {})
        for rowId in queue:
            del self.recipientOf[rowId]
        return len(queue)

    def purgeExpired(self, now):
        expired = sorted(
            (rowId, recipient, sender, xml)
            for recipient, queue in self.queues.items()
            for rowId, sender, _storedAt, expiresAt, xml in queue.values()
            if expiresAt is not None and expiresAt <= now)
        for row in expired:
            self._remove(row[0])
        return defer.succeed(expired)

    def purgeOlderThan(self, cutoff):
        old = [rowId for queue in self.queues.values()
               for rowId, _sender, storedAt, _expiresAt, _xml in queue.values()
               if storedAt < cutoff]
        for rowId in old:
            self._remove(rowId)
        return defer.succeed(len(old))

    def export(self, afterId=0, limit=500):
        rows = sorted((rowId, recipient, sender, storedAt, expiresAt, xml)
                      for recipient, queue in self.queues.items()
                      for rowId, sender, storedAt, expiresAt, xml in queue.values()
                      if rowId > afterId)
        return defer.succeed(rows[:limit])

    def adopt(self, rows):
        count = 0
        for recipient, sender, storedAt, expiresAt, xml in rows:
            self.lastId += 1
            self.queues.setdefault(recipient, {})[self.lastId] = (
                self.lastId, sender, storedAt, expiresAt, xml)
            self.recipientOf[self.lastId] = recipient
            count += 1
        return defer.succeed(count)

    def deleteAccount(self, transaction, recipient):
        self._purge(recipient)
