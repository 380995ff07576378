"""
Message routing between local accounts (RFC 6121 §8.5): who gets a message.

This module decides *when* a message is offline, and only that: when no
resource can receive it, it fires ``message/offline`` and the offline module
(or the stub, or nothing) decides what happens to it. A message nobody
takes is bounced with ``service-unavailable`` (RFC 6121 §8.5.2.2.1).

Messages for one recipient that wait on the database (the account check)
are processed in arrival order, so that nothing overtakes on its way to
offline storage.
"""

from twisted.internet import defer
from twisted.python import log
from twisted.words.protocols.jabber.jid import JID
from wokkel.subprotocols import XMPPHandler

from xmppd.lanes import Lanes

OFFLINE_EVENT = "message/offline"
# Fired with (message, routing) at the moment routing acts on a message a
# resource can take now, or that bounces: a hook that returns non-None has
# taken the message (AMP, XEP-0079, evaluates its rules here).
ROUTE_EVENT = "message/route"


class OfflineMessage:
    """What the offline event carries: the stanza and its resolved recipient."""

    def __init__(self, stanza, recipient):
        self.stanza = stanza
        self.recipient = recipient
        self.kind = stanza.getAttribute("type", "normal")


DELIVER, BOUNCE, DROP, OFFLINE = "deliver", "bounce", "drop", "offline"


class Routing:
    """
    What routing does with a message right now: ``DELIVER`` to ``sessions``,
    ``BOUNCE`` with service-unavailable, ``DROP`` silently, or ``OFFLINE``
    for the account ``bare`` (which may yet turn out not to exist).
    """

    def __init__(self, verdict, sessions=(), bare=None):
        self.verdict = verdict
        self.sessions = list(sessions)
        self.bare = bare


def route(sessions, message):
    """
    The one place that applies RFC 6121 §8.5 to a message; the router acts
    on it and AMP evaluates its rules against it (XEP-0079 §2.2.2).
    """
    to = JID(message["to"])
    kind = message.getAttribute("type", "normal")
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
    bare = to.userhostJID()
    found = targets(sessions, bare, kind)
    if found:
        if kind == "groupchat":
            return Routing(BOUNCE)
        return Routing(DELIVER, found)
    return Routing(OFFLINE, bare=bare)


def targets(sessions, bare, kind):
    if kind == "headline" or kind == "groupchat":
        return sessions.availableResources(bare)
    return sessions.highestPriorityResources(bare)


class MessageRouter(XMPPHandler):
    def __init__(self, host):
        XMPPHandler.__init__(self)
        self.host = host
        self._lanes = Lanes()

    def connectionInitialized(self):
        self.xmlstream.addObserver("/message", self.onMessage, 0)

    def onMessage(self, message):
        if getattr(message, "handled", False):
            return
        message.handled = True
        account = JID(message["to"]).userhost()
        if self._lanes.busy(account):
            # Earlier messages to this account still wait on the database on
            # their way to storage: this one queues behind them, or it would
            # overtake them the moment the recipient comes online.
            return self.inOrder(account, self.routeNow, message)
        self.routeNow(message)

    def routeNow(self, message):
        routing = route(self.host.sessions, message)
        if routing.verdict in (DELIVER, BOUNCE) and self.taken(message, routing):
            return
        if routing.verdict == OFFLINE:
            key = routing.bare.full()
            if self._lanes.busy(key):
                return self.offline(message, routing.bare)
            return self.inOrder(key, self.offline, message, routing.bare)
        if routing.verdict == DELIVER:
            for session in routing.sessions:
                session.send(message)
        elif routing.verdict == BOUNCE:
            self.host.bounce(message, "service-unavailable", "cancel")

    def taken(self, message, routing):
        return self.host.events.fire(ROUTE_EVENT, message, routing) is not None

    def inOrder(self, key, fn, *args):
        """Run ``fn`` after every earlier call for the same key has finished."""
        d = self._lanes.run(key, fn, *args)
        d.addErrback(log.err, "message routing failed")
        d.addCallback(lambda _: None)
        return d

    @defer.inlineCallbacks
    def offline(self, message, bare):
        try:
            exists = bool(self.host.sessions.resources(bare)) or (
                yield self.host.isLocalUser(bare))
        except Exception:
            # SPEC §2 rule 8: the database is down; the sender must hear of
            # it rather than the message vanishing.
            log.err(None, "account lookup failed")
            return self.host.bounce(message, "internal-server-error", "wait",
                                    "Offline storage failed")
        if not exists:
            if self.taken(message, Routing(BOUNCE)):
                return
            return self.host.bounce(message, "service-unavailable", "cancel")
        # A resource may have come online while the account was looked up.
        kind = message.getAttribute("type", "normal")
        found = targets(self.host.sessions, bare, kind)
        if found and kind != "groupchat":
            if self.taken(message, Routing(DELIVER, found)):
                return
            for session in found:
                session.send(message)
            return
        taken = self.host.events.fire(OFFLINE_EVENT, OfflineMessage(message, bare))
        if taken is None:
            # No offline storage (SPEC §2 rule 2): MongooseIM's bounce, verbatim.
            self.host.bounce(message, "service-unavailable", "cancel",
                             "Bounce offline message")
        elif isinstance(taken, defer.Deferred):
            yield taken
