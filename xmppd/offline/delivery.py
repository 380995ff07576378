"""
Handing stored messages to a resource that came online (SPEC §3).

The trigger is a resource becoming a delivery target: available with
priority ≥ 0. From that moment the resource's routed stanzas are held
(``Session.hold``) so that they land behind the stored ones, and the pop
runs in the account's lane (``host.lanes``), batch by batch.

A row is deleted only once the client has acknowledged the stanza made of
it -- by XEP-0198's ``<a h/>``, or else by answering the IQ probe the
session sends after each part of a batch (``Session.requestAck``): a stanza
written into a connection that died unread is still stored at the next
login. At most one batch (``delivery_batch`` rows) is unacknowledged at a
time, which is also the flow control: a client that reads slowly is sent no
faster than it reads, and at most one batch can reach a client twice (it
read the batch but its answers were lost). The batch goes out in
``delivery_window`` parts, each one write into the stream and followed by
its own request, and a part is sent as soon as the acknowledgements leave
room for it: the client's round trip overlaps its reading instead of
following it, once per batch.
"""

import time
from collections import deque

from twisted.internet import defer
from twisted.python import log

from xmppd.api import OFFLINE_DELIVERED, targets

# Batches read from the queue per query: few for the first, which is on the
# way of the first message; more for the next ones, each read while the
# block before it is sent, so that a read the database is slow to answer
# (it is deleting what the client acknowledged) still comes in time.
FIRST_FETCH_BATCHES = 4
FETCH_BATCHES = 8


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
        """
        Hold the resource's routed stanzas now; pop in the account's lane.
        None instead of the job's Deferred when there is nothing to deliver.
        """
        account = session.bareJID.userhost()
        if afterId == 0 and self._nothingToDeliver(session, account):
            return None
        if not session.takeCarriedHold():
            session.hold()
        d = self.service.pipeline.run(account, self._deliverHeld, session, afterId)
        d.addErrback(log.err, "offline delivery failed")
        return d

    def _nothingToDeliver(self, session, account):
        """
        Whether a delivery would find nothing and hold nothing: the queue is
        known empty, the handover is over and the account's lane is idle.
        The job would then run at once, read nothing and release the hold
        it took before anything could be held: a login skips the lane, its
        Deferreds and the coroutine. Only with the lane idle: a message
        ahead in it may be on its way to storage with the queue still known
        empty (the account check of a message with AMP rules reads the
        database before the insert forgets the account), and would wait for
        the next login if nothing came after it to read the queue.
        """
        service = self.service
        if session.holdCarried or not service.emptyQueues.knownEmpty(account):
            return False
        handover = service.handover
        if handover is not None and not handover.done:
            return False
        return not service.pipeline.busy(account)

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
        options = self.service.options
        batch = options.delivery_batch
        # The batch is what may be unacknowledged at once; it goes out in
        # ``delivery_window`` parts, each with its acknowledgement request,
        # so that the client's answer to the first arrives while it reads
        # the others instead of after it read them all.
        part = -(-batch // options.delivery_window)
        # What one query reads: a few batches, for fewer round trips to the
        # database; the next block is read while this one is sent.
        block = batch * FETCH_BATCHES
        asked = batch * FIRST_FETCH_BATCHES
        await self.service.queueReady()
        empties = self.service.emptyQueues
        if afterId == 0 and empties.knownEmpty(recipient):
            return
        token = empties.beforeRead()
        rows = await self._fetch(recipient, afterId, asked)
        if not rows and afterId == 0:
            empties.foundEmpty(recipient, token)
        deletions = _Deletions(self, session, batch)
        unacked = deque()
        unackedRows = 0
        hibernating = session.whenHibernating()
        delivered = True
        try:
            while rows and delivered:
                following = None
                if len(rows) == asked:
                    following = self._fetch(recipient, rows[-1][0], block)
                    asked = block
                for start in range(0, len(rows), part):
                    piece = rows[start:start + part]
                    while delivered and unacked and unackedRows + len(piece) > batch:
                        acked, count = unacked.popleft()
                        unackedRows -= count
                        delivered = await _firstOf(acked, hibernating)
                    if not (delivered and _isTarget(session)):
                        delivered = False
                        break
                    # Past the hold: the stored messages are what it waits for.
                    # The rows go when the client acknowledges them, even if
                    # that is after a XEP-0198 resumption, long after this
                    # lane moved on.
                    acked = session.writeStored(piece, ask=True)
                    acked.addCallback(deletions.acknowledged, [row[0] for row in piece])
                    unacked.append((acked, len(piece)))
                    unackedRows += len(piece)
                rows = (await following) if following is not None else []
            # Done when the client has read it all (or is gone): the lane,
            # and what it holds, waits for the reader as before.
            while unacked and delivered:
                delivered = await _firstOf(unacked.popleft()[0], hibernating)
        finally:
            session.unwatchHibernation(hibernating)
            finished = deletions.finish()
        if delivered:
            await finished

    def _fetch(self, recipient, afterId, batch):
        return defer.ensureDeferred(self._timedFetch(recipient, afterId, batch))

    async def _timedFetch(self, recipient, afterId, batch):
        service = self.service
        started = time.perf_counter()
        rows = await service.store.fetch(recipient, afterId, batch, service.now())
        service.metrics.popSeconds.labels(service.backend).observe(
            time.perf_counter() - started)
        return rows

    async def _deleteDelivered(self, session, rowIds):
        service = self.service
        await service.store.delete(rowIds, session.bareJID.userhost())
        service.metrics.delivered.inc(len(rowIds))
        self.host.events.fire(OFFLINE_DELIVERED, session, rowIds)


class _Deletions:
    """
    The acknowledged rows of one delivery, deleted a batch at a time while
    it runs (a transaction per batch, not per acknowledgement), and at once
    after: an acknowledgement that comes later (after a XEP-0198
    resumption) deletes its rows on its own.
    """

    def __init__(self, delivery, session, threshold):
        self.delivery = delivery
        self.session = session
        self.threshold = threshold
        self.pending = []
        self.running = False
        self._idle = []

    def acknowledged(self, acked, rowIds):
        if acked:
            self.pending.extend(rowIds)
            self._maybeNext()
        return acked

    def finish(self):
        """No more waiting for a batch: delete what is acknowledged; fire once all is."""
        self.threshold = 1
        self._maybeNext()
        if not self.running:
            return defer.succeed(None)
        waiter = defer.Deferred()
        self._idle.append(waiter)
        return waiter

    def _maybeNext(self):
        if self.running or len(self.pending) < self.threshold:
            return
        rowIds, self.pending = self.pending, []
        self.running = True
        d = defer.ensureDeferred(self.delivery._deleteDelivered(self.session, rowIds))
        d.addErrback(log.err, "deleting delivered offline messages failed;"
                     " they are delivered again at the next login")
        d.addCallback(self._done)

    def _done(self, _):
        self.running = False
        self._maybeNext()
        if not self.running:
            waiters, self._idle = self._idle, []
            for waiter in waiters:
                waiter.callback(None)


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
