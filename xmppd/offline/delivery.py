"""
Handing stored messages to a resource that came online (SPEC §3).

The trigger is a resource becoming a delivery target: available with
priority ≥ 0. From that moment the resource's live stanzas are held
(``Session.hold``) so that they land behind the stored ones; the pop itself
runs in the recipient's lane, batch by batch, writing each stanza to the
stream and deleting exactly the rows written. A resource that leaves half
way loses nothing: unsent rows stay, and the live messages held for it are
routed again -- to another resource, or back to storage in their order.
"""

import time

from twisted.python import log
from twisted.words.protocols.jabber.jid import JID

from xmppd.modules.message import OfflineMessage, targets


class Delivery:
    def __init__(self, service):
        self.service = service
        self.host = service.host
        self._holds = {}

    # Triggers ------------------------------------------------------------------------

    def onResourceAvailable(self, session):
        if session.priority >= 0:
            self.schedule(session)

    def onPriorityChanged(self, session, oldPriority):
        # Only the lift from negative counts: a resource at ≥ 0 already had
        # its delivery, and a change within ≥ 0 must not trigger another.
        if oldPriority < 0 <= session.priority and session.available:
            self.schedule(session)

    def schedule(self, session):
        """Hold the resource's live stanzas now; pop in the recipient's lane."""
        self._hold(session)
        d = self.service.lanes.run(session.bareJID.userhost(), self.deliver, session)
        d.addErrback(log.err, "offline delivery failed")
        d.addBoth(lambda _: self._release(session))
        return d

    async def deliverToOnline(self, recipient):
        """Called in the lane after a store: deliver if the recipient is online now."""
        targets = self.host.sessions.highestPriorityResources(recipient)
        if not targets:
            return
        session = targets[0]
        self._hold(session)
        try:
            await self.deliver(session)
        finally:
            self._release(session)

    # The pop ---------------------------------------------------------------------------

    async def deliver(self, session):
        """Send every unexpired stored message to ``session``, in id order."""
        service = self.service
        recipient = session.bareJID.userhost()
        batch = service.options.delivery_batch
        afterId = 0
        try:
            while _isTarget(session):
                started = time.perf_counter()
                rows = await service.store.fetch(recipient, afterId, batch, service.now())
                service.metrics.popSeconds.labels(service.backend).observe(
                    time.perf_counter() - started)
                sent = []
                for rowId, _sender, xml in rows:
                    if not _isTarget(session) or not _write(session, xml):
                        break
                    sent.append(rowId)
                if sent:
                    await service.store.delete(sent)
                    service.metrics.delivered.inc(len(sent))
                    self.host.events.fire("offline/delivered", session, sent)
                if len(sent) < batch:
                    break
                afterId = sent[-1]
        finally:
            if not _isTarget(session):
                await self._rerouteHeld(session)

    async def _rerouteHeld(self, session):
        """
        The resource left while its live messages were held behind the pop:
        route them again, in order, still inside the lane so that nothing
        that arrived after them is stored before them.
        """
        held, session.holdQueue = session.holdQueue or [], None
        keep = []
        for stanza in held:
            to = JID(stanza.getAttribute("to", ""))
            if stanza.name != "message" or (to.resource and not session.closed):
                keep.append(stanza)
                continue
            await self.reroute(stanza, session.bareJID)
        if keep and not session.closed:
            session.holdQueue = keep

    async def reroute(self, stanza, bareJID):
        found = targets(self.host.sessions, bareJID, stanza.getAttribute("type", "normal"))
        if found:
            for target in found:
                target.send(stanza)
            return
        offlineMessage = OfflineMessage(stanza, bareJID)
        # Keep an AMP expire-at the first store honoured (XEP-0079 §3.3.2).
        amp = getattr(stanza, "ampRequest", None)
        if amp is not None:
            offlineMessage.expiresAt = amp.expiresAt()
        decision = await self.service.decide(offlineMessage)
        if decision.store:
            await self.service.storeNow(offlineMessage, decision, deliver=False)
        else:
            self.service.reject(offlineMessage, decision)

    # Holding live stanzas --------------------------------------------------------------

    def _hold(self, session):
        self._holds[session] = self._holds.get(session, 0) + 1
        session.hold()

    def _release(self, session):
        count = self._holds.get(session, 1) - 1
        if count > 0:
            self._holds[session] = count
            return
        self._holds.pop(session, None)
        if not session.closed:
            session.release()


def _isTarget(session):
    return not session.closed and session.available and session.priority >= 0


def _write(session, xml):
    """
    Write a stored stanza past the hold (the stored messages are what the
    hold waits for), as the text we serialised when storing it: parsing and
    serialising it again was most of a large backlog's delivery time.
    """
    if session.closed:
        return False
    session.stream.send(xml)
    return True
