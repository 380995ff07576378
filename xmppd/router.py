"""
Message routing between local accounts (RFC 6121 §8.5): who gets a message.

This module decides *when* a message is offline, and only that: when no
resource can receive it, it fires ``message/offline`` and the offline module
(or the stub, or nothing) decides what happens to it. A message nobody
takes is bounced with ``service-unavailable`` (RFC 6121 §8.5.2.2.1).

Every message to an account is routed in that account's lane of the
server's pipeline (``XMPPServer.pipeline``), where the offline module also
stores and delivers: one decision per message, taken in arrival order, so
that nothing overtakes on its way to storage or out of it. A session that
ends with messages it never delivered hands them back here
(``session/left-behind``); they are routed again ahead of anything that
arrived after them.
"""

import functools

from twisted.internet import defer
from twisted.python import log
from twisted.python.failure import Failure
from wokkel.subprotocols import XMPPHandler

from xmppd.events import MESSAGE_INBOUND, MESSAGE_OFFLINE, MESSAGE_ROUTE
from xmppd.events import SESSION_LEFT_BEHIND as LEFT_BEHIND_EVENT
from xmppd.iservices import IOfflineService
from xmppd.jidprep import internJID, preparedForms
from xmppd.stanzas import annotated

OFFLINE_EVENT = MESSAGE_OFFLINE
# Fired with (message, routing) at the moment routing acts on a message a
# resource can take now, or that bounces: a hook that returns non-None has
# taken the message (AMP, XEP-0079, evaluates its rules here).
ROUTE_EVENT = MESSAGE_ROUTE
# Fired with (message) in the recipient's lane before routing decides
# anything; a hook that returns non-None has taken the message.
INBOUND_EVENT = MESSAGE_INBOUND


class OfflineMessage:
    """
    What the offline event carries: the stanza and its resolved recipient.

    ``accountKnown`` False: nobody has checked yet that the recipient's
    account exists; the offline service checks it in the insert's
    transaction and calls ``unknownAccount(stanza)`` when it does not.
    ``queued``, when set, is called once the insert is queued where the
    order holds, so that the recipient's lane can go on.
    """

    accountKnown = True
    queued = None

    def __init__(self, stanza, recipient, rerouted=False):
        self.stanza = stanza
        self.recipient = recipient
        self.kind = stanza.getAttribute("type", "normal")
        # Routed once already (to a session that left without delivering
        # it): its AMP rules were evaluated then and are not evaluated again.
        self.rerouted = rerouted


DELIVER, BOUNCE, DROP, OFFLINE = "deliver", "bounce", "drop", "offline"


class Routing:
    """
    What routing does with a message right now: ``DELIVER`` to ``sessions``,
    ``BOUNCE`` with service-unavailable, ``DROP`` silently, or ``OFFLINE``
    for the account ``bare`` (which may yet turn out not to exist).
    """

    __slots__ = ("verdict", "sessions", "bare")

    def __init__(self, verdict, sessions=(), bare=None):
        self.verdict = verdict
        self.sessions = list(sessions)
        self.bare = bare


_newRouting = object.__new__


def route(sessions, message, attributes=None, account=None):
    """
    The one place that applies RFC 6121 §8.5 to a message; the router acts
    on it and AMP evaluates its rules against it (XEP-0079 §2.2.2).
    ``attributes`` and ``account`` (the bare JID of its ``to``, a string)
    are the message's own, when the caller has them already.
    """
    if attributes is None:
        attributes = message.attributes
    # Shared, memoised JIDs: each message would otherwise parse its 'to'
    # into a new JID at every step of its way.
    to = internJID(attributes["to"])
    kind = attributes.get("type", "normal")
    if not to.user:
        # Nothing here answers messages to the domain itself.
        return Routing(BOUNCE)
    if to.resource:
        session = sessions.get(to)
        if session is not None:
            return Routing(DELIVER, [session])
        if kind != "chat":
            # RFC 6121 §8.5.3.2.1: only chat falls back to the bare JID.
            return Routing(BOUNCE)
    if kind == "error":
        return Routing(DROP)
    found = targets(sessions, account or to.userhost(), kind)
    if found:
        if kind == "groupchat":
            return Routing(BOUNCE)
        # Routing(DELIVER, found) without its __init__ frame or a copy of
        # the list, made for this message: one per routed message.
        routing = _newRouting(Routing)
        routing.verdict = DELIVER
        routing.sessions = found
        routing.bare = None
        return routing
    return Routing(OFFLINE, bare=to.userhostJID())


def targets(sessions, bare, kind):
    """The resources a message of ``kind`` to ``bare`` (a JID or its string) goes to."""
    if kind == "headline" or kind == "groupchat":
        return sessions.availableResources(bare)
    return sessions.highestPriorityResources(bare)


class MessageRouter(XMPPHandler):
    def __init__(self, host):
        XMPPHandler.__init__(self)
        self.host = host

    @property
    def pipeline(self):
        return self.host.server.pipeline

    def connectionInitialized(self):
        self.xmlstream.addObserver("/message", self.onMessage, 0)
        self.host.events.hook(LEFT_BEHIND_EVENT, self.onLeftBehind)

    def connectionLost(self, reason):
        self.host.events.unhook(LEFT_BEHIND_EVENT, self.onLeftBehind)
        XMPPHandler.connectionLost(self, reason)

    def onMessage(self, message):
        # The element's fields read once (a domish element's attribute reads
        # take CPython's slow path); ``handled``, ``handling`` are the
        # router's notes on it, not XML.
        fields = message.__dict__
        if fields.get("handled"):
            return
        fields["handled"] = True
        attributes = fields["attributes"]
        account = preparedForms(attributes["to"])[1]
        outcome = self.host.server.pipeline.runNow(
            account, self.routeNow, message, attributes, account)
        if outcome is None:
            # Routed at once (a live delivery to an idle lane): handled now.
            fields["handling"] = None
            return
        if isinstance(outcome, defer.Deferred):
            if outcome.called and not isinstance(outcome.result, Failure):
                # Routed already: no callback to run on a fired Deferred.
                fields["handling"] = None
                return
            outcome.addErrback(self._failed, message)
            # The sender's session counts the message handled (XEP-0198's
            # h, the intake bound) when this fires: delivered, stored or
            # bounced.
            fields["handling"] = outcome
            return
        # Routed at once (a live delivery to an idle lane): handled now.
        fields["handling"] = None
        if isinstance(outcome, Failure):
            self._failed(outcome, message)

    def _failed(self, failure, message):
        log.err(failure, "message routing failed")
        self.host.bounce(message, "internal-server-error", "wait")

    def routeNow(self, message, attributes=None, account=None):
        host = self.host
        events = host.events
        handlers = events.handlers
        if INBOUND_EVENT in handlers and events.fire(INBOUND_EVENT, message) is not None:
            # Taken before any routing (a sender the recipient blocked).
            return None
        routing = route(host.server.sessions, message, attributes, account)
        verdict = routing.verdict
        if (verdict == DELIVER or verdict == BOUNCE) and ROUTE_EVENT in handlers and (
                events.fire(ROUTE_EVENT, message, routing) is not None):
            # Taken (AMP's rules, XEP-0079 §2.2.2).
            return None
        if verdict == DELIVER:
            for session in routing.sessions:
                session.send(message)
        elif verdict == OFFLINE:
            return self.offline(message, routing.bare)
        elif verdict == BOUNCE:
            host.bounce(message, "service-unavailable", "cancel")
        return None

    def taken(self, message, routing):
        return self.host.events.fire(ROUTE_EVENT, message, routing) is not None

    def offline(self, message, bare):
        if annotated(message) or not self._storageChecksAccounts():
            # What a module noted on the message may make it act on what
            # would happen to it (AMP's rules): it gets a known account.
            return defer.ensureDeferred(self._offline(message, bare))
        offlineMessage = OfflineMessage(message, bare)
        if not self.host.sessions.resources(bare):
            offlineMessage.accountKnown = False
            offlineMessage.unknownAccount = self.unknownAccount
        offlineMessage.queued = functools.partial(self.pipeline.letGo, bare.userhost())
        return self.toStorageNow(offlineMessage)

    def _storageChecksAccounts(self):
        offline = self.host.optionalService(IOfflineService)
        return offline is not None and getattr(offline, "checksAccounts", False)

    def unknownAccount(self, message):
        """A message for an account that does not exist (RFC 6121 §8.5.2.2.1)."""
        if self.taken(message, Routing(BOUNCE)):
            return
        self.host.bounce(message, "service-unavailable", "cancel")

    async def _offline(self, message, bare):
        try:
            exists = bool(self.host.sessions.resources(bare)) or (
                await self.host.isLocalUser(bare))
        except Exception:
            # SPEC §2 rule 8: the database is down; the sender must hear of
            # it rather than the message vanishing.
            log.err(None, "account lookup failed")
            return self.host.bounce(message, "internal-server-error", "wait",
                                    "Offline storage failed")
        if not exists:
            return self.unknownAccount(message)
        # No second look for a resource: one that became available since is
        # waiting behind us in this lane with its offline delivery.
        await self.toStorage(OfflineMessage(message, bare))

    def toStorageNow(self, offlineMessage):
        """Fire the offline event; the Deferred of whoever took it, else None."""
        taken = self.host.events.fire(OFFLINE_EVENT, offlineMessage)
        if taken is None:
            # No offline storage (SPEC §2 rule 2): MongooseIM's bounce, verbatim.
            self.host.bounce(offlineMessage.stanza, "service-unavailable", "cancel",
                             "Bounce offline message")
        elif isinstance(taken, defer.Deferred):
            return taken
        return None

    async def toStorage(self, offlineMessage):
        taken = self.toStorageNow(offlineMessage)
        if taken is not None:
            await taken

    # What a departed session left behind ------------------------------------------

    def onLeftBehind(self, session, stanzas):
        d = self.pipeline.runNext(session.bareJID.userhost(), self.rerouteLeft,
                                  session.bareJID, stanzas)
        d.addErrback(log.err, "re-routing stanzas left by %s failed" % session.jid.full())
        return d

    def rerouteLeft(self, bare, stanzas):
        return defer.ensureDeferred(self._rerouteLeft(bare, stanzas))

    async def _rerouteLeft(self, bare, stanzas):
        """
        Messages go to the account's other resources or to storage, as if
        sent to the bare JID (the resource they named is gone); an IQ that
        expects an answer gets one; presence for a gone resource is moot.
        """
        for stanza in stanzas:
            kind = stanza.getAttribute("type")
            if stanza.name == "iq" and kind in ("get", "set"):
                self.host.bounce(stanza, "service-unavailable", "cancel")
            elif stanza.name == "message" and kind != "error":
                found = targets(self.host.sessions, bare, kind or "normal")
                if found and kind != "groupchat":
                    for session in found:
                        session.send(stanza)
                else:
                    await self.toStorage(OfflineMessage(stanza, bare, rerouted=True))
