"""
Handing stored messages to a resource that came online (SPEC §3).

The trigger is a resource becoming a delivery target: available with
priority ≥ 0. From that moment the resource's routed stanzas are held
(``Session.hold``) so that they land behind the stored ones, and the pop
runs in the account's lane (``host.lanes``), batch by batch.

A row is deleted only once the client has acknowledged the stanza made of
it -- by XEP-0198's ``<a h/>``, or else by answering the IQ probe the
session sends after each batch (``Session.requestAck``): a stanza written
into a connection that died unread is still stored at the next login. One
batch at most is unacknowledged at a time, which is also the flow control:
a client that reads slowly is sent no faster than it reads, and at most one
batch can reach a client twice (it read the batch but its answer was lost).
"""

import time

from twisted.internet import defer
from twisted.python import log

from xmppd.api import OFFLINE_DELIVERED, targets


class Delivery:
    def __init__(self, service):
        self.service = service
        self.host = service.host

    # Triggers ------------------------------------------------------------------------

    def onResourceAvailable(self, session):
        # A client that retrieves its messages itself (XEP-0013) asked the
        # service to stop the flood for its session.
        if session.priority >= 0 and self.service.floods(session):
            self.schedule(session)

    def onPriorityChanged(self, session, oldPriority):
        # Only the lift from negative counts: a resource at ≥ 0 already had
        # its delivery, and a change within ≥ 0 must not trigger another.
        if (oldPriority < 0 <= session.priority and session.available
                and self.service.floods(session)):
            self.schedule(session)

    def onResourceUnbound(self, session):
        """Rows sent to a resource that left unacknowledged go to another, if any."""
        if not session.storedLeftUnacked:
            return
        found = targets(self.host.sessions, session.bareJID, "chat")
        if found:
            self.schedule(found[0])

    def onResourceResumed(self, session):
        """
        XEP-0198 resumption: the session got again what it had not
        acknowledged; the rows its interrupted delivery never reached follow.
        """
        if _isTarget(session):
            self.schedule(session, afterId=session.lastRowWritten)
        elif session.takeCarriedHold():
            session.release()

    def schedule(self, session, afterId=0):
        """Hold the resource's routed stanzas now; pop in the account's lane."""
        if not session.takeCarriedHold():
            session.hold()
        d = self.service.pipeline.run(session.bareJID.userhost(), self._deliverHeld,
                                      session, afterId)
        d.addErrback(log.err, "offline delivery failed")
        return d

    def _deliverHeld(self, session, afterId):
        # Released within the lane's job, not after it: what the release
        # routes again (``runNext``) must go ahead of the messages waiting
        # in the lane, which arrived after the held ones.
        d = self.deliver(session, afterId)
        d.addBoth(_releasing, session)
        return d

    # The pop ---------------------------------------------------------------------------

    def deliver(self, session, afterId=0):
        return defer.ensureDeferred(self._deliver(session, afterId))

    async def _deliver(self, session, afterId):
        """Send every unexpired stored message past ``afterId`` to ``session``, in id order."""
        recipient = session.bareJID.userhost()
        batch = self.service.options.delivery_batch
        await self.service.queueReady()
        rows = await self._fetch(recipient, afterId, batch)
        while rows and _isTarget(session):
            for rowId, _sender, xml in rows:
                # Past the hold: the stored messages are what it waits for.
                session.write(xml, rowId)
            # The rows go when the client acknowledges them, even if that is
            # after a XEP-0198 resumption, long after this lane moved on.
            acked = session.requestAck()
            acked.addCallback(self._deleteIfAcked, session, [row[0] for row in rows])
            # The next batch is read while the client reads this one.
            following = None
            if len(rows) == batch:
                following = self._fetch(recipient, rows[-1][0], batch)
            delivered = await _firstOf(acked, session.whenHibernating())
            rows = (await following) if following is not None else []
            if not delivered:
                break

    def _fetch(self, recipient, afterId, batch):
        return defer.ensureDeferred(self._timedFetch(recipient, afterId, batch))

    async def _timedFetch(self, recipient, afterId, batch):
        service = self.service
        started = time.perf_counter()
        rows = await service.store.fetch(recipient, afterId, batch, service.now())
        service.metrics.popSeconds.labels(service.backend).observe(
            time.perf_counter() - started)
        return rows

    def _deleteIfAcked(self, acked, session, rowIds):
        if not acked:
            return False
        return defer.ensureDeferred(self._deleteDelivered(session, rowIds))

    async def _deleteDelivered(self, session, rowIds):
        service = self.service
        await service.store.delete(rowIds)
        service.metrics.delivered.inc(len(rowIds))
        self.host.events.fire(OFFLINE_DELIVERED, session, rowIds)
        return True


def _releasing(result, session):
    session.release()
    return result


def _firstOf(*deferreds):
    """The result of whichever Deferred fires first; the others run on."""
    first = defer.Deferred()

    def settle(result):
        if not first.called:
            first.callback(result)
        return result

    for d in deferreds:
        d.addBoth(settle)
    return first


def _isTarget(session):
    return not session.closed and not session.hibernating and session.available \
        and session.priority >= 0
