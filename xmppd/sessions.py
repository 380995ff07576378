"""
Bound client resources and their state, and the one place that answers
"which resources of this account can receive a stanza now?".

A session moves through RFC 6121's states: bound → (roster requested) →
available with a priority → unavailable. Modules learn of each transition
through their host's events instead of inspecting streams, so that a later
multi-node session registry can replace this class without touching them.
"""

from twisted.words.protocols.jabber import error
from twisted.words.protocols.jabber.jid import InvalidFormat, JID, internJID

from twisted.words.protocols.jabber.xmlstream import toResponse

from xmppd.c2s.negotiation import NS_CLIENT, NS_SESSION, STANZA_NAMES, stanzaError

IQ_TYPES = ("get", "set", "result", "error")
MESSAGE_TYPES = ("chat", "error", "groupchat", "headline", "normal")
PRESENCE_TYPES = ("error", "probe", "subscribe", "subscribed", "unavailable",
                  "unsubscribe", "unsubscribed")


class Session:
    """One bound resource of an account, on one client stream."""

    def __init__(self, manager, jid, stream):
        self.manager = manager
        self.jid = jid
        self.bareJID = jid.userhostJID()
        self.stream = stream
        self.available = False
        self.priority = 0
        self.presence = None
        self.rosterRequested = False
        self.directedPresence = set()
        self.closed = False
        # Stanzas held back while offline delivery for this resource runs,
        # so that live messages are written after the stored ones.
        self.holdQueue = None

    def __repr__(self):
        return "<Session %s>" % self.jid.full()

    @property
    def host(self):
        return self.manager.server.hosts[self.jid.host]

    def send(self, stanza):
        """Write a stanza to this resource's stream (or queue it behind a hold)."""
        if self.closed:
            return False
        if self.holdQueue is not None:
            self.holdQueue.append(stanza)
            return True
        self.stream.send(stanza)
        return True

    def hold(self):
        """Queue live stanzas behind whatever is written next (offline delivery)."""
        if self.holdQueue is None:
            self.holdQueue = []

    def release(self):
        queued, self.holdQueue = self.holdQueue or [], None
        for stanza in queued:
            self.send(stanza)

    def sendStreamError(self, condition, text=None):
        self.stream.sendStreamError(error.StreamError(condition, text=text))

    def receivedFromClient(self, stanza):
        """Check and stamp a stanza from this client, then route it (RFC 6120 §8)."""
        if stanza.uri != NS_CLIENT:
            if stanza.name in STANZA_NAMES:
                return self.sendStreamError("invalid-namespace")
            return self.sendStreamError("unsupported-stanza-type")
        if stanza.name not in STANZA_NAMES:
            return self.sendStreamError("unsupported-stanza-type")
        sender = stanza.getAttribute("from")
        if sender is not None:
            try:
                claimed = internJID(sender)
            except (InvalidFormat, UnicodeError, ValueError):
                return self.sendStreamError("invalid-from")
            if claimed != self.jid and claimed != self.bareJID:
                return self.sendStreamError("invalid-from")
        stanza["from"] = self.jid.full()
        problem = _checkStanza(stanza)
        if problem is not None:
            if stanza.getAttribute("type") != "error":
                self.stream.send(stanzaError(stanza, *problem))
            return
        if _isLegacySessionRequest(stanza):
            # RFC 3921's session establishment is a no-op kept for old clients.
            return self.stream.send(toResponse(stanza, "result"))
        self.manager.server.routeFromClient(stanza, self)


def _isLegacySessionRequest(stanza):
    if stanza.name != "iq" or stanza.getAttribute("type") != "set":
        return False
    if stanza.getAttribute("to") not in (None, stanza["from"].split("/")[0]):
        return False
    child = next(stanza.elements(), None)
    return child is not None and (child.uri, child.name) == (NS_SESSION, "session")


def _checkStanza(stanza):
    """An RFC 6120 §8.3.3 (condition, type, text) for a bad stanza, or None."""
    kind = stanza.getAttribute("type")
    to = stanza.getAttribute("to")
    if to is not None:
        try:
            stanza["to"] = internJID(to).full()
        except (InvalidFormat, UnicodeError, ValueError):
            return ("jid-malformed", "modify", "invalid 'to' address")
    if stanza.name == "iq":
        if kind not in IQ_TYPES:
            return ("bad-request", "modify", "iq type must be get, set, result or error")
        if not stanza.getAttribute("id"):
            return ("bad-request", "modify", "iq without id")
        if kind in ("get", "set") and len(list(stanza.elements())) != 1:
            return ("bad-request", "modify", "a get or set iq has exactly one child")
    elif stanza.name == "message":
        if kind is not None and kind not in MESSAGE_TYPES:
            return ("bad-request", "modify", "unknown message type")
    elif kind is not None and kind not in PRESENCE_TYPES:
        return ("bad-request", "modify", "unknown presence type")
    return None


class SessionManager:
    """All bound resources of this process, by account."""

    def __init__(self, server):
        self.server = server
        self.accounts = {}

    def bind(self, jid, stream):
        """
        Register a new resource. An existing session with the same full JID
        is replaced and its stream closed with ``<conflict/>`` (RFC 6120
        §7.7.2.2, the policy every major server uses).
        """
        old = self.get(jid)
        if old is not None:
            self.unbind(old)
            old.stream.authenticator.session = None
            old.sendStreamError("conflict", "replaced by a new session")
        session = Session(self, jid, stream)
        self.accounts.setdefault(jid.userhost(), {})[jid.resource] = session
        return session

    def unbind(self, session):
        if session.closed:
            return
        session.closed = True
        resources = self.accounts.get(session.jid.userhost(), {})
        if resources.get(session.jid.resource) is session:
            del resources[session.jid.resource]
            if not resources:
                del self.accounts[session.jid.userhost()]
        session.host.resourceUnbound(session)

    def get(self, fullJID):
        """The session bound to this full JID, or None."""
        if isinstance(fullJID, str):
            fullJID = JID(fullJID)
        return self.accounts.get(fullJID.userhost(), {}).get(fullJID.resource)

    def resources(self, bareJID):
        """Every bound session of an account, available or not."""
        if not isinstance(bareJID, str):
            bareJID = bareJID.userhost()
        return list(self.accounts.get(bareJID, {}).values())

    def availableResources(self, bareJID):
        """Sessions that count as online for delivery: available, priority ≥ 0."""
        return [s for s in self.resources(bareJID) if s.available and s.priority >= 0]

    def highestPriorityResources(self, bareJID):
        """Where a chat/normal message to the bare JID goes (RFC 6121 §8.5.2.1.1)."""
        candidates = self.availableResources(bareJID)
        if not candidates:
            return []
        top = max(s.priority for s in candidates)
        return [s for s in candidates if s.priority == top]
