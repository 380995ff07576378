"""
The expiry sweep (SPEC §5): stored messages past their XEP-0023 or AMP
expiry, or older than ``max_age``, are deleted every ``expire_interval``.

Delivery already skips expired rows, so the sweep only frees the queue (and
the quota those rows hold) and lets AMP tell senders of ``expire-at`` rules
through ``offline/expired``. One sweep per server, whatever the number of
hosts, because one query covers every account.
"""

from twisted.internet import defer, task
from twisted.python import log
from twisted.words.protocols.jabber.jid import JID

from xmppd.api import OFFLINE_EXPIRED


class ExpirySweeper:
    def __init__(self, host, service):
        self.host = host
        self.service = service
        self.users = 0
        self.loop = None

    def acquire(self):
        self.users += 1
        if self.loop is None:
            self.loop = task.LoopingCall(self.sweep)
            self.loop.clock = self.service.clock
            self.loop.start(self.service.options.expire_interval, now=False)

    def release(self):
        self.users -= 1
        if self.users <= 0 and self.loop is not None:
            loop, self.loop = self.loop, None
            if loop.running:
                loop.stop()

    def sweep(self, now=None):
        d = self._sweep(now)
        # A failed sweep (database down) must not end the LoopingCall.
        d.addErrback(log.err, "offline expiry sweep failed")
        return d

    def _sweep(self, now):
        return defer.ensureDeferred(self._run(now))

    async def _run(self, now):
        service = self.service
        if now is None:
            now = service.now()
        rows = await service.store.purgeExpired(now)
        for _rowId, recipient, sender, xml in rows:
            host = self.host.hostFor(JID(recipient).host)
            if host is not None:
                host.events.fire(OFFLINE_EXPIRED, recipient, sender, xml)
        deleted = len(rows)
        maxAge = service.options.max_age
        if maxAge:
            deleted += await service.store.purgeOlderThan(now - int(maxAge * 1_000_000))
        if deleted:
            service.metrics.expired.inc(deleted)
        return deleted


def sweeperFor(host, service):
    """The server's one sweeper, run with the first host's service that asks."""
    return host.serverShared("offline/sweeper", lambda: ExpirySweeper(host, service))
