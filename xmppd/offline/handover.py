"""
The handover at start-up: messages waiting in an offline queue that is not
the one in use move into it, oldest first, before anything is stored or
delivered.

Which queue is in use changes with the configuration: the offline module's
own, or one a module provides (``[modules.mam] offline_in_archive``). A
message stored under the previous configuration must still reach its
recipient, so every other IOfflineQueue the storage holds -- an enabled
module's, or a dormant one of a module now off whose tables this database
has -- is read (``export``), appended to the queue in use (``adopt``) and
only then deleted: a crash in between delivers a batch twice rather than
losing it. Stores and deliveries wait for the handover (``ready``), so the
moved messages stay ahead of the ones that arrive after the start.
"""

from twisted.internet import defer
from twisted.python import log

from xmppd.api import IOfflineQueue

BATCH = 500


class QueueHandover:
    def __init__(self, host, service):
        self.host = host
        self.service = service
        self.started = False
        self.done = False
        self.moved = 0
        self._waiters = []

    def start(self):
        if not self.started:
            self.started = True
            d = defer.ensureDeferred(self._run())
            d.addErrback(log.err, "handing over offline queues failed")
            d.addBoth(self._finished)

    def ready(self):
        """A Deferred of its own for each caller, fired once the handover is over."""
        if self.done:
            return defer.succeed(None)
        waiter = defer.Deferred()
        self._waiters.append(waiter)
        return waiter

    def _finished(self, _):
        self.done = True
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(None)

    async def _run(self):
        target = self.service.store
        storage = self.host.storage
        sources = [getattr(storage, name) for name in storage.names()]
        sources += await storage.openDormant()
        for source in sources:
            if source is target or not IOfflineQueue.providedBy(source):
                continue
            try:
                moved = await self._move(source, target)
            except Exception:
                log.err(None, "handing the offline queue %r over failed" % (source,))
                continue
            if moved:
                log.msg("offline: moved %d waiting messages from %r into %r"
                        % (moved, source, target))
                self.moved += moved

    async def _move(self, source, target):
        moved = afterId = 0
        while True:
            # Past the last batch, so that a row the delete missed is not
            # adopted over and over.
            rows = await source.export(afterId, BATCH)
            if not rows:
                return moved
            await target.adopt([row[1:] for row in rows])
            await source.delete([row[0] for row in rows])
            moved += len(rows)
            afterId = rows[-1][0]


def handoverFor(host, service):
    """The server's one handover: every host shares the storage and its queues."""
    return host.serverShared("offline/handover", lambda: QueueHandover(host, service))
