"""
All bound resources of this process, by account: binding (a new session
replaces one with the same full JID), the end of a session and what it left
behind, and the look-ups routing asks (which resources can receive now).
The state of one session is ``xmppd.sessions.Session``'s.
"""

from twisted.python import log
from twisted.words.protocols.jabber import error
from twisted.words.protocols.jabber.jid import JID

from xmppd.sessions import LEFT_BEHIND_EVENT, Session


class SessionManager:
    """All bound resources of this process, by account."""

    # What ``bind`` creates; a cluster node's manager (xmppd.cluster.sessions)
    # binds a Session that mirrors its state into the cluster's registry.
    sessionClass = Session

    def __init__(self, server, clock=None):
        if clock is None:
            from twisted.internet import reactor as clock
        self.server = server
        self.clock = clock
        self.accounts = {}

    def bind(self, jid, stream):
        """
        Register a new resource. An existing session with the same full JID
        is replaced and its stream closed with ``<conflict/>`` (RFC 6120
        §7.7.2.2, the policy every major server uses).
        """
        # This process's own session; one on another node of a cluster is
        # replaced through the registry (xmppd.cluster.writer).
        old = SessionManager.get(self, jid)
        if old is not None:
            self.unbind(old)
            if old.stream is not None:
                old.stream.authenticator.session = None
                old.stream.sendStreamError(error.StreamError(
                    "conflict", text="replaced by a new session"))
        session = self.sessionClass(self, jid, stream)
        self.accounts.setdefault(jid.userhost(), {})[jid.resource] = session
        return session

    def streamEnded(self, session, resumable):
        """
        The session's stream is ending. It hibernates if the client asked
        for XEP-0198 resumption and the end was not the client's own choice;
        otherwise it ends now.
        """
        if session.closed or session.hibernating:
            return
        sm = session.streamManagement
        if resumable and sm is not None and sm.resumable:
            session.hibernate()
            sm.hibernated(session)
            return
        self.unbind(session)

    def unbind(self, session):
        """End a session: no longer a target; what it left is routed again."""
        if session.closed:
            return
        session.closed = True
        resources = self.accounts.get(session.jid.userhost(), {})
        if resources.get(session.jid.resource) is session:
            del resources[session.jid.resource]
            if not resources:
                del self.accounts[session.jid.userhost()]
        left = session.abandon()
        if left:
            self.leftBehind(session, left)
        session.acks.cancelWaiters()
        session.host.resourceUnbound(session)

    def leftBehind(self, session, stanzas):
        """Hand stanzas that a departed session did not deliver back to routing."""
        if session.host.events.fire(LEFT_BEHIND_EVENT, session, stanzas) is None:
            log.msg("%d stanzas left by %s had nowhere to go"
                    % (len(stanzas), session.jid.full()))

    def get(self, fullJID):
        """The session bound to this full JID, or None."""
        if isinstance(fullJID, str):
            fullJID = JID(fullJID)
        return self.accounts.get(fullJID.userhost(), {}).get(fullJID.resource)

    def sessionFor(self, sender):
        """
        This process's session whose stamp is ``sender`` (the ``from`` a
        session puts on what its client sends), or None: the module that
        answers a client's IQ finds its session without parsing a JID.
        """
        bare, _, resource = sender.partition("/")
        resources = self.accounts.get(bare)
        if resources:
            session = resources.get(resource)
            if session is not None and session.fullJID == sender:
                return session
        return None

    def resources(self, bareJID):
        """Every bound session of an account, available or not."""
        if not isinstance(bareJID, str):
            bareJID = bareJID.userhost()
        resources = self.accounts.get(bareJID)
        # Asked for every message routed: no empty dict made for an
        # account without any.
        return list(resources.values()) if resources else []

    def availableResources(self, bareJID):
        """Sessions that count as online for delivery: available, priority ≥ 0."""
        if not isinstance(bareJID, str):
            bareJID = bareJID.userhost()
        # ``resources`` read in place, and a loop, not a comprehension (on
        # CPython 3.11 that is a function call of its own): for every
        # message routed. (A cluster's manager has its own.)
        found = []
        resources = self.accounts.get(bareJID)
        if resources:
            for session in resources.values():
                if session.available and session.priority >= 0:
                    found.append(session)
        return found

    def highestPriorityResources(self, bareJID):
        """Where a chat/normal message to the bare JID goes (RFC 6121 §8.5.2.1.1)."""
        candidates = self.availableResources(bareJID)
        if len(candidates) < 2:
            # Most accounts have one resource online: nothing to compare.
            return candidates
        top = max(s.priority for s in candidates)
        return [s for s in candidates if s.priority == top]
