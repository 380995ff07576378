"""
The session registry: every node's bound resources, in Redis, and this
node's picture of the other nodes' ones.

In Redis, per account, a hash ``xmppd:sessions:<bare>`` of full JID →
JSON state (node, availability, priority, the presence stanza and the
flags modules read: roster requested, carbons, blocklist pushes), and per
node a set of its full JIDs. Every write to an account's hash is made
under that account's lock (xmppd.cluster.lanes), so that a node holding
the lock, which read the hash when it took the lock, sees the registry
exactly as it is while it decides where a message goes.

Outside the lock -- presence broadcasts, IQs to a full JID, roster pushes,
carbons -- lookups are answered from ``Directory``, a cache of the other
nodes' entries kept fresh by the registry channel: a writer publishes the
bare JID it changed, and every node reads that account's hash again. A
stale entry there costs a presence sent to a resource that just left
(dropped on arrival), never a message: messages are routed under the lock.

A ``RemoteSession`` stands for a resource bound on another node: it reads
like a Session (jid, available, priority, presence, …) and its ``send``
puts the stanza on that node's inbox stream (xmppd.cluster.bus).
"""

import json

from twisted.python import log
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from xmppd.stanzas import parsePriority

# Session attributes other nodes' modules read, mirrored in the registry.
MIRRORED_FLAGS = ("rosterRequested", "carbons", "wantsBlocklistPushes")
# Changes to these are written to the registry (``closed`` removes the entry).
WATCHED = ("available", "priority", "presence", "closed") + MIRRORED_FLAGS


def parseStanza(xml):
    """One stanza from its XML text, in the jabber:client namespace."""
    if isinstance(xml, bytes):
        xml = xml.decode("utf-8")
    found = []
    stream = domish.ExpatElementStream()
    stream.DocumentStartEvent = lambda root: None
    stream.ElementEvent = found.append
    stream.DocumentEndEvent = lambda: None
    stream.parse(b"<w xmlns='jabber:client'>" + xml.encode("utf-8") + b"</w>")
    if not found:
        raise ValueError("no stanza in %r" % (xml[:80],))
    return found[0]



def isTargetState(available, priority):
    """Whether a resource in this state takes messages to its bare JID."""
    return bool(available) and priority >= 0


def stateOf(node, session):
    """The JSON the registry keeps for a local session."""
    state = {"node": node, "available": bool(session.available),
             "priority": session.priority}
    presence = getattr(session, "presence", None)
    if presence is not None and session.available:
        state["presence"] = presence.toXml()
    for flag in MIRRORED_FLAGS:
        if getattr(session, flag, False):
            state[flag] = True
    return json.dumps(state, separators=(",", ":"))


class RemoteSession:
    """
    A resource bound on another node, as routing and the modules see it.

    It is never written to from here: ``send`` forwards to its node, and
    offline delivery, which only writes to sessions that are neither closed
    nor ``hibernating``, leaves it alone and asks its node instead (``hold``
    is the first thing delivery does with a session).
    """

    remote = True
    closed = False
    hibernating = True
    stream = None
    streamManagement = None
    isTarget = True

    def __init__(self, cluster, full, state):
        self.cluster = cluster
        self.jid = JID(full)
        self.bareJID = self.jid.userhostJID()
        self.node = state["node"]
        self.available = bool(state.get("available", False))
        self.priority = int(state.get("priority", 0))
        self._presenceXML = state.get("presence")
        self._presence = None
        for flag in MIRRORED_FLAGS:
            setattr(self, flag, bool(state.get(flag, False)))
        self.directedPresence = set()

    def __repr__(self):
        return "<RemoteSession %s on %s>" % (self.jid.full(), self.node)

    @property
    def presence(self):
        if self._presenceXML is None:
            return None
        if self._presence is None:
            try:
                self._presence = parseStanza(self._presenceXML)
            except Exception:
                log.err(None, "cluster: unreadable presence of %s" % self.jid.full())
                self._presenceXML = None
                return None
        return self._presence

    def send(self, stanza):
        return self.cluster.bus.sendTo(self, stanza)

    def write(self, stanza, rowId=None):
        if rowId is None:
            self.send(stanza)

    writeReply = send

    def sendStreamError(self, condition, text=None):
        self.cluster.bus.kick(self.node, self.jid.full(), condition, text)

    def hold(self):
        # Offline delivery wants to write stored rows to this resource:
        # its own node does that, in the account's lane.
        self.cluster.bus.askToDeliverStored(self.node, self.jid.full())

    def release(self):
        pass


class Directory:
    """The other nodes' resources, by account: bare JID → {full JID: RemoteSession}."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.accounts = {}

    def replace(self, bare, raw):
        """Take ``HGETALL xmppd:sessions:<bare>``'s reply as the account's entries."""
        entries = {}
        own = self.cluster.nodeName
        for i in range(0, len(raw or ()) - 1, 2):
            full = raw[i].decode("utf-8")
            try:
                state = json.loads(raw[i + 1])
            except ValueError:
                continue
            if state.get("node") == own:
                # This node's own sessions are known better locally.
                continue
            entries[full] = RemoteSession(self.cluster, full, state)
        if entries:
            self.accounts[bare] = entries
        else:
            self.accounts.pop(bare, None)

    def notePresence(self, presence, node):
        """
        A broadcast presence from a resource of ``node`` came over the bus:
        it tells its availability before the registry does (the write is
        queued behind the broadcast). Only outside the account's lock --
        under it the registry as read is exact and routing must see it so.
        """
        sender = presence.getAttribute("from") or ""
        kind = presence.getAttribute("type")
        if "/" not in sender or kind not in (None, "unavailable") or not node:
            return
        jid = JID(sender)
        bare = jid.userhost()
        if node == self.cluster.nodeName or self.cluster.locks.isHeld(bare):
            return
        entries = self.accounts.setdefault(bare, {})
        session = entries.get(jid.full())
        if session is None or session.node != node:
            session = entries[jid.full()] = RemoteSession(self.cluster, jid.full(),
                                                          {"node": node})
        session.available = kind is None
        if kind is None:
            session._presence = presence
            session._presenceXML = presence.toXml()
            session.priority = parsePriority(presence)

    def forget(self, bare):
        self.accounts.pop(bare, None)

    def forgetNode(self, node):
        for bare in list(self.accounts):
            entries = {f: s for f, s in self.accounts[bare].items() if s.node != node}
            if entries:
                self.accounts[bare] = entries
            else:
                del self.accounts[bare]

    def clear(self):
        self.accounts.clear()

    def resources(self, bare):
        return list(self.accounts.get(bare, {}).values())

    def get(self, full, bare):
        return self.accounts.get(bare, {}).get(full)

    def count(self):
        return sum(len(entries) for entries in self.accounts.values())
