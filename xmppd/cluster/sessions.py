"""
The SessionManager of a cluster node: the local sessions as ever, plus the
other nodes' resources (``RemoteSession``) in every lookup routing and the
modules make -- ``get``, ``resources``, ``availableResources``,
``highestPriorityResources`` -- so that RFC 6121's rules see the whole
cluster.

A local session mirrors the state other nodes read (available, priority,
presence, the module flags) into the registry whenever it changes; the
write runs in the account's lane, under its lock (xmppd.cluster.writer).
A stanza that came over the bus carries its inbox entry: the entry is
acknowledged (XACK) only once the client acknowledged the stanza, or once
what the session left behind was routed again -- so that a node that dies
leaves everything its clients had not confirmed in its inbox, for a
survivor to route again.
"""

from twisted.internet import defer
from twisted.python import log
from twisted.words.protocols.jabber.jid import JID

from xmppd.acks import AckTracker
from xmppd.events import SESSION_LEFT_BEHIND
from xmppd.sessionmanager import SessionManager
from xmppd.sessions import Session

from xmppd.cluster.registry import WATCHED

_WATCHED = frozenset(WATCHED)


class ClusterAckTracker(AckTracker):
    """Acknowledges a stanza's inbox entry when the client acknowledges the stanza."""

    def __init__(self, bus):
        AckTracker.__init__(self)
        self.bus = bus

    def ackUpTo(self, number):
        entries = []
        limit = min(number, self.written)
        for written in self.unacked:
            if written.number > limit:
                break
            entry = getattr(written.stanza, "clusterEntry", None)
            if entry is not None:
                entries.append(entry)
                written.stanza.clusterEntry = None
        AckTracker.ackUpTo(self, number)
        if entries:
            self.bus.ack(entries)


class ClusterSession(Session):
    """A local Session that tells the registry when its mirrored state changes."""

    _watching = False
    # Written into the registry as a target for messages to the bare JID
    # (xmppd.cluster.writer); marked draining there since it stopped being one.
    clusterTarget = False
    clusterDraining = False

    def __init__(self, manager, jid, stream):
        Session.__init__(self, manager, jid, stream)
        self.acks = ClusterAckTracker(manager.cluster.bus)

    def __setattr__(self, name, value):
        object.__setattr__(self, name, value)
        if name in _WATCHED and self._watching:
            self.manager.cluster.writer.changed(self)


class ClusterSessionManager(SessionManager):
    sessionClass = ClusterSession

    def __init__(self, server, cluster, clock=None):
        SessionManager.__init__(self, server, clock)
        self.cluster = cluster

    def bind(self, jid, stream):
        session = SessionManager.bind(self, jid, stream)
        session._watching = True
        self.cluster.writer.changed(session)
        return session

    # Lookups: local sessions first, then the other nodes' --------------------------

    def get(self, fullJID):
        local = SessionManager.get(self, fullJID)
        if local is not None:
            return local
        if isinstance(fullJID, str):
            fullJID = JID(fullJID)
        return self.cluster.directory.get(fullJID.full(), fullJID.userhost())

    def resources(self, bareJID):
        if not isinstance(bareJID, str):
            bareJID = bareJID.userhost()
        local = SessionManager.resources(self, bareJID)
        remote = self.cluster.directory.resources(bareJID)
        if not remote:
            return local
        here = {s.jid.full() for s in local}
        return local + [s for s in remote if s.jid.full() not in here]

    def availableResources(self, bareJID):
        """
        As SessionManager's, but a local session counts only once the
        registry has it as a target (xmppd.cluster.writer): before that,
        other nodes still store the account's messages, and this one must
        not deliver a later message of the same sender live meanwhile.
        """
        return [s for s in self.resources(bareJID)
                if s.available and s.priority >= 0 and getattr(s, "clusterTarget", True)]

    def localGet(self, fullJID):
        return SessionManager.get(self, fullJID)

    def localResources(self, bareJID):
        return SessionManager.resources(self, bareJID)

    def localSessions(self):
        return [s for resources in self.accounts.values() for s in resources.values()]

    # What a departed session left ----------------------------------------------------

    def leftBehind(self, session, stanzas):
        entries = [s.clusterEntry for s in stanzas if getattr(s, "clusterEntry", None)]
        for stanza in stanzas:
            if getattr(stanza, "clusterEntry", None):
                stanza.clusterEntry = None
        result = session.host.events.fire(SESSION_LEFT_BEHIND, session, stanzas)
        if result is None:
            log.msg("%d stanzas left by %s had nowhere to go"
                    % (len(stanzas), session.jid.full()))
        if not entries:
            return
        if isinstance(result, defer.Deferred):
            # Routed again (to storage, or on to another node's inbox): the
            # entries are done with once that is done.
            result.addBoth(lambda outcome: (self.cluster.bus.ack(entries), outcome)[1])
        else:
            self.cluster.bus.ack(entries)
