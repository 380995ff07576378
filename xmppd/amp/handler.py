"""
The ``amp`` module: Advanced Message Processing (XEP-0079) on this host.

A message carrying ``<amp/>`` meets this handler before routing and is
validated (§2.2.1). Its rules are evaluated in document order against what
would happen to it (§2.2.2) at the moment the router acts: the routing
verdict (``message/route``) for a recipient who is online or a message that
bounces, the offline service's decision (``message/offline``) for a
recipient who is offline. The first rule that holds
fires: ``alert``, ``drop`` and ``error`` take the message; ``notify`` tells
the sender and lets processing go on.

This server is always the recipient's edge server (there is no s2s), so
``per-hop`` changes nothing here: every rule applies at this hop.

An ``expire-at`` rule on a stored message becomes the stored row's expiry;
when the sweep deletes the row, the rule fires then (``offline/expired``).
A row delivered in time is deleted on delivery and never reaches the sweep.
"""

import time
import weakref

from twisted.internet import defer
from twisted.python import log
from twisted.words.protocols.jabber.jid import JID
from wokkel import disco
from wokkel.generic import parseXml
from wokkel.iwokkel import IDisco
from wokkel.subprotocols import XMPPHandler
from zope.interface import implementer

from xmppd.api import (
    DELIVER, EXPIRES_AT, IOfflineService, MESSAGE_OFFLINE, MESSAGE_ROUTE, OFFLINE_EXPIRED,
    annotate, annotation)

from xmppd.amp.rules import (
    ACTION_NODES,
    CONDITION_NODES,
    DIRECT,
    NONE,
    NS_AMP,
    STORED,
    AmpInvalid,
    Delivery,
    evaluate,
    expiredRules,
    findAmp,
    parseRequest,
    reply,
)

# Before the router (priority 0) on '/message', and before offline storage
# (priority 0) on the offline event: AMP decides first (DESIGN.md).
PRIORITY = 10
AMP_MESSAGE = "/message/amp[@xmlns='%s']" % NS_AMP
# The parsed rules of a message, noted at validation for the routing verdict.
REQUEST = "amp/request"


@implementer(IDisco)
class AmpHandler(XMPPHandler):
    def __init__(self, host, clock=None):
        XMPPHandler.__init__(self)
        self.host = host
        self.clock = clock
        host.addDiscoFeature(NS_AMP)
        # Weak references to the messages whose rules wait for routing to
        # act (see _noteRules).
        self._withRules = set()

    def connectionInitialized(self):
        events = self.host.events
        self.xmlstream.addObserver(AMP_MESSAGE, self.onMessage, PRIORITY)
        events.hook(MESSAGE_ROUTE, self.onRoute, PRIORITY)
        events.hook(MESSAGE_OFFLINE, self.onOffline, PRIORITY)
        events.hook(OFFLINE_EXPIRED, self.onExpired)
        # Until a message carries rules, routing has nothing to ask us.
        events.suspend(MESSAGE_ROUTE, self.onRoute)
        events.suspend(MESSAGE_OFFLINE, self.onOffline)

    def _noteRules(self, message, request):
        """
        Note ``request`` on ``message`` for onRoute and onOffline, which are
        hooked only while some message has rules: for any other they do
        nothing, and every message routed would otherwise pay for asking.
        The rules live as long as the message (an annotation), so they are
        unhooked again once the last message noted is gone.
        """
        if not self._withRules:
            events = self.host.events
            events.resume(MESSAGE_ROUTE, self.onRoute)
            events.resume(MESSAGE_OFFLINE, self.onOffline)
        self._withRules.add(weakref.ref(message, self._messageGone))
        annotate(message, REQUEST, request)

    def _messageGone(self, reference):
        self._withRules.discard(reference)
        if not self._withRules:
            events = self.host.events
            events.suspend(MESSAGE_ROUTE, self.onRoute)
            events.suspend(MESSAGE_OFFLINE, self.onOffline)

    def now(self):
        """
        Now in µs. The offline service's clock when there is one, so that a
        test moving that clock moves expire-at with it.
        """
        if self.clock is not None:
            return int(self.clock.seconds() * 1_000_000)
        offline = self.host.optionalService(IOfflineService)
        if offline is not None:
            return offline.now()
        return int(time.time() * 1_000_000)

    # Before routing: validation ------------------------------------------------

    def onMessage(self, message):
        if getattr(message, "handled", False):
            return
        if message.getAttribute("type") == "error":
            return
        if not JID(message.getAttribute("from", "")).user:
            # The server's own messages, AMP replies among them (§3.4).
            return
        try:
            request = parseRequest(message)
        except AmpInvalid as invalid:
            message.handled = True
            self.host.send(invalid.toResponse(message))
            return
        # Evaluated when routing acts on it: onRoute, or onOffline.
        self._noteRules(message, request)
        expiresAt = request.expiresAt()
        if expiresAt is not None:
            # Never delivered after expire-at (§3.3.2), even from storage.
            annotate(message, EXPIRES_AT, expiresAt)

    # For a recipient who is online, or a message that bounces -------------------

    def onRoute(self, message, routing):
        request = annotation(message, REQUEST)
        if request is None:
            return None
        if routing.verdict == DELIVER:
            delivery = Delivery(DIRECT, [session.jid for session in routing.sessions])
        else:
            delivery = Delivery(NONE)
        fired, notifies = evaluate(request.rules, delivery, JID(message["to"]), self.now())
        self.tell(message, notifies)
        if fired is None:
            return None
        self.act(message, fired)
        return "amp-" + fired.action

    # For a recipient who is offline --------------------------------------------

    def onOffline(self, offlineMessage):
        request = annotation(offlineMessage.stanza, REQUEST)
        if request is None or offlineMessage.rerouted:
            return None
        offline = self.host.optionalService(IOfflineService)
        if offline is None:
            return self.withoutStorage(offlineMessage, request)
        d = defer.ensureDeferred(self.throughStorage(offlineMessage, request, offline))
        d.addErrback(self._failed, offlineMessage.stanza)
        return d

    def _failed(self, failure, message):
        # SPEC §2 rule 8: the sender hears of it; the message is not silently lost.
        log.err(failure, "AMP processing of an offline message failed")
        self.host.bounce(message, "internal-server-error", "wait", "Offline storage failed")
        return "storage-failed"

    def withoutStorage(self, offlineMessage, request):
        """No offline service at all: the message is ``deliver=none``."""
        message = offlineMessage.stanza
        fired, notifies = evaluate(request.rules, Delivery(NONE),
                                   JID(message["to"]), self.now())
        self.tell(message, notifies)
        if fired is None:
            # The stub or the router's bounce, as without AMP.
            return None
        self.act(message, fired)
        return "amp-" + fired.action

    async def throughStorage(self, offlineMessage, request, offline):
        message = offlineMessage.stanza
        expiresAt = annotation(message, EXPIRES_AT)
        if expiresAt is not None:
            # Never delivered after expire-at (§3.3.2): the row expires then.
            offlineMessage.expiresAt = expiresAt
        decision = await offline.decide(offlineMessage, quotaAhead=True)
        # Over quota, disabled or refused: it would not be stored (SPEC §6).
        delivery = Delivery(STORED if decision.store else NONE)
        fired, notifies = evaluate(request.rules, delivery, JID(message["to"]), self.now())
        if fired is not None:
            self.tell(message, notifies)
            self.act(message, fired)
            return "amp-" + fired.action
        outcome = await offline.commit(offlineMessage, decision)
        if decision.store and outcome != "stored":
            # Lost the quota race at insert time: it was not stored after all.
            notifies = [rule for rule in notifies
                        if not (rule.condition == "deliver" and rule.value == "stored")]
        self.tell(message, notifies)
        return outcome

    # In storage, when the sweep deletes an expired row ----------------------

    def onExpired(self, recipient, sender, xml):
        try:
            message = parseXml(xml.encode("utf-8") if isinstance(xml, str) else xml)
            if findAmp(message) is None:
                return None
            request = parseRequest(message)
        except Exception:
            # XEP-0023 expiry, or rules this server would have refused.
            return None
        fired, notifies = expiredRules(request.rules, self.now())
        to = self.replyAddress(message)
        self.tell(message, notifies, to)
        if fired is not None and fired.action != "drop":
            self.host.send(reply(message, fired, self.host.domain, to))
        return None

    def replyAddress(self, message):
        """
        The original sender's full JID while it is connected; otherwise the
        bare JID, so an alert reaches another resource or waits offline.
        """
        sender = JID(message["from"])
        if sender.resource and self.host.sessions.get(sender) is None:
            return sender.userhost()
        return sender.full()

    # Actions (§3.4) -----------------------------------------------------------------

    def act(self, message, rule):
        """alert, drop, error: the message goes no further."""
        if rule.action != "drop":
            self.host.send(reply(message, rule, self.host.domain))

    def tell(self, message, notifies, to=None):
        for rule in notifies:
            self.host.send(reply(message, rule, self.host.domain, to))

    # Discovery (§2.1.1) ---------------------------------------------------------

    def getDiscoInfo(self, requestor, target, nodeIdentifier=""):
        if target.user or target.host != self.host.domain or not nodeIdentifier:
            return defer.succeed([])
        identity = disco.DiscoIdentity("server", "im", "xmppd AMP support")
        if nodeIdentifier == NS_AMP:
            features = (NS_AMP,) + ACTION_NODES + CONDITION_NODES
        elif nodeIdentifier in ACTION_NODES + CONDITION_NODES:
            features = (nodeIdentifier,)
        else:
            return defer.succeed([])
        return defer.succeed([identity] + [disco.DiscoFeature(f) for f in features])

    def getDiscoItems(self, requestor, target, nodeIdentifier=""):
        return defer.succeed([])


def handlersFor(host, options):
    return [AmpHandler(host)]
