"""
Presence of local resources (RFC 6121 §4): availability, priority, and the
events other modules wait for.

A resource becomes available with its first broadcast presence and stops
being so with ``unavailable`` or when its stream closes, even without a
closing stanza. Those transitions are fired as host events so that offline
delivery and the roster never inspect streams themselves:

- ``resource-available`` (session): first available presence; fired after
  the presence has been reflected and sent to contacts, so that anything a
  handler sends comes after it on the wire (SPEC §3).
- ``priority-changed`` (session, oldPriority): a later broadcast presence
  changed the priority.
- ``resource-unavailable`` (session).
- ``presence/broadcast`` (session, stanza) and ``presence/directed``
  (session, stanza): hooks for the roster module to send presence to
  contacts; they may return a Deferred that delays ``resource-available``.
"""

from twisted.internet import defer
from twisted.python import log
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish
from wokkel.subprotocols import XMPPHandler


def parsePriority(presence):
    """The priority of a presence, clamped to RFC 6121 §4.7.2.3's range."""
    for child in presence.elements():
        if child.name == "priority":
            try:
                return max(-128, min(127, int(str(child).strip())))
            except ValueError:
                return 0
    return 0


class PresenceHandler(XMPPHandler):
    def __init__(self, host):
        XMPPHandler.__init__(self)
        self.host = host

    def connectionInitialized(self):
        self.xmlstream.addObserver("/presence", self.onPresence, 0)
        self.host.events.hook("resource-unbound", self.onResourceUnbound)

    def onPresence(self, presence):
        if getattr(presence, "handled", False):
            return
        presence.handled = True
        sender = JID(presence["from"])
        to = presence.getAttribute("to")
        session = self.host.sessions.get(sender) if sender.host == self.host.domain else None
        if to is None:
            if session is not None:
                return self.onBroadcast(session, presence)
            return
        if session is not None and presence.getAttribute("type") in (None, "unavailable"):
            if presence.getAttribute("type") is None:
                session.directedPresence.add(to)
            else:
                session.directedPresence.discard(to)
            if self.host.events.fire("presence/directed", session, presence) is not None:
                return
        if self.host.events.fire("presence/inbound", presence) is not None:
            return
        self.deliverInbound(presence)

    def deliverInbound(self, presence):
        """Default delivery: to a full JID if bound, else every available resource."""
        to = JID(presence["to"])
        if not to.user:
            return
        if to.resource:
            session = self.host.sessions.get(to)
            if session is not None:
                session.send(presence)
            return
        for session in self.host.sessions.availableResources(to):
            session.send(presence)

    def onBroadcast(self, session, presence):
        kind = presence.getAttribute("type")
        if kind == "unavailable":
            return self.becameUnavailable(session, presence)
        if kind is not None:
            return
        wasAvailable = session.available
        oldPriority = session.priority
        session.available = True
        session.priority = parsePriority(presence)
        session.presence = presence
        self.reflect(session, presence)
        d = defer.maybeDeferred(self.host.events.fire, "presence/broadcast", session, presence)
        if not wasAvailable:
            d.addCallback(lambda _: self.host.events.fire("resource-available", session))
        elif oldPriority != session.priority:
            d.addCallback(lambda _: self.host.events.fire("priority-changed", session, oldPriority))
        d.addErrback(log.err, "presence broadcast failed")

    def reflect(self, session, presence):
        """Send a resource's presence to every available resource of its account."""
        for other in self.host.sessions.resources(session.bareJID):
            if other.available:
                copy = _copy(presence)
                copy["to"] = other.jid.full()
                other.send(copy)

    def becameUnavailable(self, session, presence=None):
        if not session.available:
            return
        if presence is None:
            presence = domish.Element((None, "presence"))
            presence["from"] = session.jid.full()
            presence["type"] = "unavailable"
        self.reflect(session, presence)
        session.available = False
        session.presence = None
        for target in sorted(session.directedPresence):
            copy = _copy(presence)
            copy["to"] = target
            self.host.send(copy)
        session.directedPresence.clear()
        self.host.events.fire("presence/broadcast", session, presence)
        self.host.events.fire("resource-unavailable", session)

    def onResourceUnbound(self, session):
        self.becameUnavailable(session)


def _copy(stanza):
    copy = domish.Element((stanza.uri, stanza.name), stanza.defaultUri)
    copy.attributes.update(stanza.attributes)
    for child in stanza.children:
        copy.addChild(child)
    return copy
