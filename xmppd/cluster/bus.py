"""
The bus between nodes: one Redis stream per node, its inbox
(``xmppd:inbox:<node>``), read by that node through a consumer group.

Sending: a stanza routed to a resource of another node is added to that
node's inbox (XADD NOMKSTREAM: a node that is gone has no inbox, and the
stanza is routed again instead of waiting in a stream nobody reads). The
routing job waits for the XADD's answer (xmppd.cluster.lanes), so a
sender's XEP-0198 ``<a h/>`` promises only what is in an inbox. A
message whose XADD failed is routed again in its account's lane.

Receiving: the node reads its inbox in order and hands each stanza to the
local session it names, with its entry id. The entry is acknowledged --
XACK, then XDEL, so that what is left in a stream is exactly what is not
done with -- once:

- the client acknowledged the message (xmppd.cluster.sessions), or
- the session ended and what it left was routed again, or
- the stanza was routed again on arrival (its session had gone, or was
  no longer a target for a message to the bare JID), or
- at once, for presence and IQs (nothing waits for their acknowledgement).

A node killed before that leaves the entries in its inbox; the survivor
that cleans up after it routes them again (xmppd.cluster.cleanup).

Redis losing its data (a restart without persistence) loses the entries
not yet read. So the sender keeps every message it added until the
recipient's node has read it (its group's last-delivered-id passed it,
checked every ``OUTBOX_CHECK`` seconds), and routes what it still keeps
again when it finds Redis emptied (xmppd.cluster.node): nothing the
sender was acknowledged is lost, at the price of a few duplicates.
"""

import collections

from twisted.internet import defer
from twisted.python import log
from twisted.words.protocols.jabber.jid import JID

from xmppd.cluster import keys
from xmppd.cluster.registry import isTargetState, parseStanza
from xmppd.cluster.resp import RedisConnectionLost, RedisError, pairs
from xmppd.router import OfflineMessage
from xmppd.stanzas import isMessage

OUTBOX_CHECK = 0.5
READ_COUNT = 256
READ_BLOCK_MS = 1000
# XADDs of one stanza that found no inbox before it goes to storage.
MAX_ATTEMPTS = 5

KIND_MESSAGE, KIND_PRESENCE, KIND_IQ = b"m", b"p", b"i"
KIND_KICK, KIND_DELIVER = b"kick", b"deliver"
_KINDS = {"message": KIND_MESSAGE, "presence": KIND_PRESENCE, "iq": KIND_IQ}


def parseId(entryId):
    if isinstance(entryId, bytes):
        entryId = entryId.decode("ascii")
    ms, _, seq = entryId.partition("-")
    return int(ms), int(seq or 0)


def _bare(jid):
    return jid.split("/", 1)[0]


class Bus:
    def __init__(self, cluster):
        self.cluster = cluster
        # node -> OrderedDict(entry id -> (bare, stanza)) of messages added
        # to its inbox and not yet known to be read there.
        self.outbox = {}
        self._acks = []
        self._ackCall = None
        self._outboxCall = None

    @property
    def link(self):
        return self.cluster.link

    def start(self):
        self._scheduleOutboxCheck()

    def stop(self):
        for call in (self._ackCall, self._outboxCall):
            if call is not None and call.active():
                call.cancel()
        self._ackCall = self._outboxCall = None
        self._flushAcks()

    # Sending ---------------------------------------------------------------------------

    def noteTargets(self, message, routing):
        """``message/route`` hook: the resources one routing decision delivers to."""
        sessions = getattr(routing, "sessions", ())
        if len(sessions) > 1:
            message.clusterTargets = [s.jid.full() for s in sessions]
        return None

    def sendTo(self, remote, stanza):
        """Put ``stanza`` on the inbox of ``remote``'s node; always True (it is on its way)."""
        full = remote.jid.full()
        kind = _KINDS.get(stanza.name, KIND_MESSAGE)
        fields = [b"k", kind, b"t", full, b"x", stanza.toXml(), b"o", self.cluster.nodeName]
        to = stanza.getAttribute("to") or ""
        if "/" not in to:
            fields += [b"b", b"1"]
        together = getattr(stanza, "clusterTargets", None)
        if together:
            fields += [b"c", " ".join(together)]
        d = self.link.execute(b"XADD", keys.inbox(remote.node), b"NOMKSTREAM", b"*", *fields)
        d.addCallbacks(self._added, self._notAdded, callbackArgs=(remote, stanza),
                       errbackArgs=(remote, stanza))
        return True

    def _added(self, entryId, remote, stanza):
        if entryId is None:
            # No inbox: the node is gone (or Redis lost its data just now).
            return self._notAdded(None, remote, stanza)
        self.cluster.metrics.sent.inc()
        if isMessage(stanza):
            self.outbox.setdefault(remote.node, collections.OrderedDict())[entryId] = (
                remote.bareJID.userhost(), stanza)

    def _notAdded(self, reason, remote, stanza):
        if reason is not None and not reason.check(RedisConnectionLost, RedisError):
            log.err(reason, "cluster: sending to %s failed" % (remote,))
        self.cluster.metrics.unsent.inc()
        bare = remote.bareJID.userhost()
        if stanza.name == "message" and stanza.getAttribute("type") != "error":
            if reason is None:
                # Counted: an inbox that stays missing must not keep it going round.
                stanza.clusterAttempts = (getattr(stanza, "clusterAttempts", 0) or 0) + 1
            self.rerouteLater(bare, [stanza])
        elif stanza.name == "iq" and stanza.getAttribute("type") in ("get", "set"):
            self.cluster.hostOf(bare).bounce(stanza, "service-unavailable", "cancel")

    def rerouteLater(self, bare, stanzas):
        """Route these messages again, ahead of what waits in the account's lane."""
        d = self.cluster.lanes.runNext(bare, self.reroute, bare, stanzas)
        d.addErrback(log.err, "cluster: routing again for %s failed" % (bare,))
        return d

    def reroute(self, bare, stanzas):
        """
        In the account's lane: to its resources as a message to the bare
        JID would go, else to storage (xmppd.router's re-routing of what a
        session left behind).
        """
        host = self.cluster.hostOf(bare)
        router = host.messageRouter
        again = [s for s in stanzas if (getattr(s, "clusterAttempts", 0) or 0) < MAX_ATTEMPTS]
        stuck = [s for s in stanzas if (getattr(s, "clusterAttempts", 0) or 0) >= MAX_ATTEMPTS]
        self.cluster.metrics.rerouted.inc(len(stanzas))
        d = router.rerouteLeft(JID(bare), again) if again else defer.succeed(None)
        for stanza in stuck:
            d.addCallback(lambda _, s=stanza: defer.ensureDeferred(router.toStorage(
                OfflineMessage(s, JID(bare), rerouted=True))))
        return d

    def kick(self, node, full, condition, text=None):
        """Ask ``node`` to end its session of ``full`` with a stream error."""
        fields = [b"k", KIND_KICK, b"t", full, b"c", condition, b"o", self.cluster.nodeName]
        if text:
            fields += [b"m", text]
        d = self.link.execute(b"XADD", keys.inbox(node), b"NOMKSTREAM", b"*", *fields)
        d.addErrback(lambda _: None)

    def askToDeliverStored(self, node, full):
        """Ask ``node`` to deliver the account's stored messages to its session ``full``."""
        d = self.link.execute(b"XADD", keys.inbox(node), b"NOMKSTREAM", b"*",
                              b"k", KIND_DELIVER, b"t", full, b"o", self.cluster.nodeName)
        d.addErrback(lambda _: None)

    # Acknowledging what this node received -----------------------------------------------

    def ack(self, entries):
        self._acks.extend(entries)
        if self._ackCall is None:
            self._ackCall = self.cluster.clock.callLater(0, self._flushAcks)

    def _flushAcks(self):
        self._ackCall = None
        entries, self._acks = self._acks, []
        if not entries or not self.link.ready:
            return
        inbox = keys.inbox(self.cluster.nodeName)
        self.cluster.metrics.acked.inc(len(entries))
        for start in range(0, len(entries), 500):
            chunk = entries[start:start + 500]
            self.link.execute(b"XACK", inbox, keys.GROUP, *chunk).addErrback(lambda _: None)
            self.link.execute(b"XDEL", inbox, *chunk).addErrback(lambda _: None)

    # The outbox ----------------------------------------------------------------------------

    def _scheduleOutboxCheck(self):
        self._outboxCall = self.cluster.clock.callLater(OUTBOX_CHECK, self._checkOutbox)

    @defer.inlineCallbacks
    def _checkOutbox(self):
        try:
            for node in list(self.outbox):
                if not self.link.ready:
                    break
                entries = self.outbox.get(node)
                if not entries:
                    self.outbox.pop(node, None)
                    continue
                try:
                    groups = yield self.link.execute(b"XINFO", b"GROUPS", keys.inbox(node))
                except RedisError:
                    # No such stream: the node is gone and was cleaned up.
                    self.outbox.pop(node, None)
                    continue
                delivered = None
                for group in groups or ():
                    info = pairs(group)
                    if info.get("name") == keys.GROUP.encode():
                        delivered = parseId(info["last-delivered-id"])
                if delivered is None:
                    continue
                while entries:
                    entryId = next(iter(entries))
                    if parseId(entryId) > delivered:
                        break
                    entries.popitem(last=False)
        except RedisConnectionLost:
            pass
        except Exception:
            log.err(None, "cluster: checking the outbox failed")
        finally:
            if self.cluster.running:
                self._scheduleOutboxCheck()

    def rerouteOutbox(self):
        """Redis lost its data: what other nodes may not have read goes out again."""
        byAccount = collections.OrderedDict()
        count = 0
        for entries in self.outbox.values():
            for bare, stanza in entries.values():
                byAccount.setdefault(bare, []).append(stanza)
                count += 1
        self.outbox.clear()
        if count:
            log.msg("cluster: routing again %d messages other nodes may not have read"
                    % (count,))
        for bare, stanzas in byAccount.items():
            self.rerouteLater(bare, stanzas)


class Consumer:
    """Reads this node's inbox and hands each entry to its local session."""

    def __init__(self, cluster, link):
        self.cluster = cluster
        self.link = link
        self.lastRead = (0, 0)
        self._waiters = []
        self._loop = None
        # bare JID -> entries for it being routed again in its lane: later
        # entries for that account wait behind them.
        self._orphans = {}

    @property
    def inbox(self):
        return keys.inbox(self.cluster.nodeName)

    def start(self):
        self._loop = self._run()

    @defer.inlineCallbacks
    def _run(self):
        cluster = self.cluster
        while cluster.running:
            try:
                conn = yield self.link.whenReady()
                reply = yield conn.execute(
                    b"XREADGROUP", b"GROUP", keys.GROUP, cluster.nodeName, b"COUNT", READ_COUNT,
                    b"BLOCK", READ_BLOCK_MS, b"STREAMS", self.inbox, b">")
            except RedisConnectionLost:
                continue
            except RedisError as e:
                if "NOGROUP" in str(e):
                    yield self.createGroup(self.link)
                else:
                    log.msg("cluster: reading the inbox failed: %s" % (e,))
                    yield self._sleep(0.1)
                continue
            if not reply:
                self._caughtUpTo(None)
                continue
            for _stream, entries in reply:
                for entryId, fields in entries:
                    try:
                        self.handle(entryId, fields)
                    except Exception:
                        log.err(None, "cluster: handling inbox entry %r failed" % (entryId,))
                        self.cluster.bus.ack([entryId])
                    self.lastRead = parseId(entryId)
            self._caughtUpTo(self.lastRead)

    def _sleep(self, seconds):
        d = defer.Deferred()
        self.cluster.clock.callLater(seconds, d.callback, None)
        return d

    @defer.inlineCallbacks
    def createGroup(self, link):
        try:
            yield link.execute(b"XGROUP", b"CREATE", self.inbox, keys.GROUP, b"0", b"MKSTREAM")
        except RedisError as e:
            if "BUSYGROUP" not in str(e):
                raise

    # Catching up ---------------------------------------------------------------------------

    @defer.inlineCallbacks
    def caughtUp(self):
        """Fires once every entry now in the inbox has been read (and handed on)."""
        last = yield self.cluster.link.execute(b"XREVRANGE", self.inbox, b"+", b"-",
                                               b"COUNT", 1)
        if not last:
            return
        target = parseId(last[0][0])
        if target <= self.lastRead:
            return
        d = defer.Deferred()
        self._waiters.append((target, d))
        yield d

    def _caughtUpTo(self, position):
        if not self._waiters:
            return
        waiting = []
        for target, d in self._waiters:
            if position is None or target <= position:
                d.callback(None)
            else:
                waiting.append((target, d))
        self._waiters = waiting

    # One entry -----------------------------------------------------------------------------

    def handle(self, entryId, fields):
        cluster = self.cluster
        kind = fieldOf(fields, b"k", KIND_MESSAGE)
        full = fieldOf(fields, b"t", b"").decode("utf-8")
        cluster.metrics.received.inc()
        session = cluster.sessions.localGet(full) if full else None
        if kind == KIND_KICK:
            if session is not None and not session.closed:
                text = fieldOf(fields, b"m", None)
                session.sendStreamError(fieldOf(fields, b"c", b"conflict").decode(),
                                        text.decode("utf-8") if text else None)
            cluster.bus.ack([entryId])
            return
        if kind == KIND_DELIVER:
            if session is not None:
                cluster.deliverStored(session)
            cluster.bus.ack([entryId])
            return
        stanza = parseStanza(fieldOf(fields, b"x", b""))
        bare = _bare(full)
        if kind != KIND_MESSAGE:
            if kind == KIND_PRESENCE:
                cluster.directory.notePresence(stanza, fieldOf(fields, b"o", b"").decode())
            if session is not None and session.isTarget:
                session.send(stanza)
            elif stanza.name == "iq" and stanza.getAttribute("type") in ("get", "set"):
                cluster.hostOf(bare).bounce(stanza, "service-unavailable", "cancel")
            cluster.bus.ack([entryId])
            return
        stanza.clusterEntry = entryId
        toBare = fieldOf(fields, b"b", None) == b"1"
        if not self._orphans.get(bare) and self._deliverable(session, toBare):
            session.send(stanza)
            return
        # Routed here, but its resource is gone (or no longer takes
        # messages to the bare JID): routed again, in the account's lane.
        self._orphans[bare] = self._orphans.get(bare, 0) + 1
        together = fieldOf(fields, b"c", b"").decode("utf-8").split()
        d = cluster.lanes.run(bare, self._again, bare, full, toBare, stanza, together)
        d.addErrback(log.err, "cluster: routing again an entry for %s failed" % (bare,))
        d.addBoth(self._orphanDone, bare)

    def _deliverable(self, session, toBare):
        if session is None or session.closed:
            return False
        if toBare and not isTargetState(session.available, session.priority):
            return False
        return True

    def _orphanDone(self, _, bare):
        count = self._orphans.get(bare, 0) - 1
        if count > 0:
            self._orphans[bare] = count
        else:
            self._orphans.pop(bare, None)

    def _again(self, bare, full, toBare, stanza, together):
        cluster = self.cluster
        entryId = stanza.clusterEntry
        session = cluster.sessions.localGet(full)
        if self._deliverable(session, toBare):
            session.send(stanza)
            return None
        stanza.clusterEntry = None
        for other in together:
            if other == full:
                continue
            copy = cluster.sessions.get(other)
            if copy is not None and not copy.closed and \
                    isTargetState(copy.available, copy.priority):
                # The same routing decision gave it to this resource too.
                cluster.bus.ack([entryId])
                return None
        d = cluster.bus.reroute(bare, [stanza])
        d.addCallback(lambda _: cluster.bus.ack([entryId]))
        return d


def fieldOf(fields, name, default):
    """A field of a stream entry (a flat [name, value, ...] list)."""
    for i in range(0, len(fields) - 1, 2):
        if fields[i] == name:
            return fields[i + 1]
    return default
