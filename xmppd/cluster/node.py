"""
This node in the cluster: its lease, its connections to Redis, and what it
does when Redis or another node fails.

- **Lease**: ``xmppd:node:<name>`` (JSON: incarnation, pid, start and
  renewal times, sessions) with a PX expiry of 0.7 × ``[cluster] lease``,
  renewed every lease/10, and the name in ``xmppd:nodes``. A member whose
  lease key is gone is dead: the first survivor to see it cleans up after
  it (xmppd.cluster.cleanup). A node judges others only after it has been
  connected for a whole lease itself, so that nodes coming back after a
  Redis restart are not taken for dead while they reconnect.
- **Connections**: commands (pipelined; locks, registry, XADD), the
  inbox (blocking XREADGROUP), the registry channel (SUBSCRIBE). Each one
  reconnects with backoff (xmppd.cluster.link).
- **Redis came back**: the lease and consumer group are made again, every
  local session is written again, and if Redis lost its data (its
  ``xmppd:epoch`` marker changed) the messages this node had put on
  inboxes and not seen read are routed again (xmppd.cluster.bus), and
  every available local resource gets its stored messages again, in case
  another node stored some while the registry was empty.
- **Fenced**: survivors cleaned up after this node while it was cut off
  (frozen, or its lease expired): its sessions are ended -- their contacts
  were told they went offline and their inbox was routed elsewhere -- and
  it joins again, empty.
- **Leaving** (SIGTERM): the node ends its sessions, waits for their
  stanzas to be routed again, then routes what its inbox still holds and
  removes itself, so that the others need not wait for its lease.
"""

import json
import os
import time
import uuid

from twisted.application import service
from twisted.internet import defer, task
from twisted.python import log

from xmppd.cluster import keys, scripts
from xmppd.cluster.bus import Bus, Consumer
from xmppd.cluster.cleanup import cleanUpAfter
from xmppd.cluster.lanes import AccountLocks, ClusterLanes
from xmppd.cluster.link import RedisLink
from xmppd.cluster.metrics import ClusterMetrics
from xmppd.cluster.registry import Directory
from xmppd.cluster.resp import RedisConnectionLost, RedisError, parseAddress
from xmppd.cluster.writer import RegistryWriter
from xmppd.events import MESSAGE_ROUTE

LEAVE_TIMEOUT = 10
# ``[cluster] lease`` is the time within which a dead node's users are
# offline for the others: its key lives LEASE_KEY of it after the last
# renewal, renewals and the check of the others' keys come every
# LEASE_TICK of it, and the cleanup takes the rest. A node stalled longer
# than LEASE_KEY - LEASE_TICK of the lease is taken for dead (and fenced).
LEASE_KEY = 0.7
LEASE_TICK = 0.1


class Cluster(service.Service):
    def __init__(self, server, options, nodeName):
        self.server = server
        self.options = options
        self.nodeName = nodeName
        self.lease = options.lease
        self.leaseKeyMs = int(self.lease * LEASE_KEY * 1000)
        self.address = parseAddress(options.redis)
        self.incarnation = uuid.uuid4().hex[:12]
        self.startedAt = time.time()
        self.clock = server.clock
        self.running = False
        self.joined = False
        self.epoch = None
        self.connectedSince = None
        self._cleaning = set()
        self._leaseLoop = None
        self.directory = Directory(self)
        self.locks = AccountLocks(self, ttl=self.lease)
        self.lanes = ClusterLanes(self)
        self.writer = RegistryWriter(self)
        self.bus = Bus(self)
        reactor = self.clock
        self.link = RedisLink(reactor, self.address, "commands",
                              onReady=self._commandsReady, onLost=self._commandsLost)
        self.inboxLink = RedisLink(reactor, self.address, "inbox", onReady=self._inboxReady)
        self.consumer = Consumer(self, self.inboxLink)
        self.subscriber = RedisLink(reactor, self.address, "registry",
                                    onReady=self._subscribe)
        self.metrics = ClusterMetrics(server, self)

    @property
    def sessions(self):
        return self.server.sessions

    def hostOf(self, bare):
        domain = bare.split("@", 1)[-1]
        hosts = self.server.hosts
        return hosts.get(domain) or hosts[self.server.defaultHost]

    # Joining -----------------------------------------------------------------------------

    def join(self):
        """Fires once this node is in the cluster and may take clients."""
        return defer.ensureDeferred(self._join())

    async def _join(self):
        self.running = True
        for host in self.server.hosts.values():
            host.events.hook(MESSAGE_ROUTE, self.bus.noteTargets, 1000)
        self.link.start()
        log.msg("cluster: node %s joining through redis at %s" % (self.nodeName, self.address))
        await self.link.whenReady()
        link = self.link
        # A survivor may be cleaning up after this node's previous run: it
        # finishes first (its cleanup lock lives at most 5 leases).
        while await link.execute(b"EXISTS", keys.cleanup(self.nodeName)):
            await task.deferLater(self.clock, 0.1, lambda: None)
        await link.execute(b"DEL", keys.fenced(self.nodeName))
        leftovers = await link.execute(b"EXISTS", keys.nodeSessions(self.nodeName),
                                       keys.inbox(self.nodeName))
        if leftovers:
            # A previous run of this node died with sessions or an inbox.
            await cleanUpAfter(self, self.nodeName, predecessor=True)
        await self._renewLease(first=True)
        await self.consumer.createGroup(link)
        self.joined = True
        self.subscriber.start()
        self.inboxLink.start()
        await self.subscriber.whenReady()
        self.consumer.start()
        self.bus.start()
        self._leaseLoop = task.LoopingCall(self._leaseTick)
        self._leaseLoop.clock = self.clock
        self._leaseLoop.start(self.lease * LEASE_TICK, now=False)
        log.msg("cluster: node %s joined" % (self.nodeName,))

    def _leaseValue(self):
        return json.dumps({
            "node": self.nodeName, "incarnation": self.incarnation, "pid": os.getpid(),
            "started": self.startedAt, "renewed": time.time(),
            "sessions": len(self.sessions.localSessions()),
        }, separators=(",", ":"))

    async def _renewLease(self, first=False, conn=None):
        execute = conn.execute if conn is not None else self.link.execute
        if first:
            await execute(b"SET", keys.lease(self.nodeName), self._leaseValue(),
                          b"PX", self.leaseKeyMs)
            await execute(b"SADD", keys.NODES, self.nodeName)
            return b"ok"
        return await execute(b"EVAL", scripts.RENEW_LEASE, 3, keys.lease(self.nodeName),
                             keys.fenced(self.nodeName), keys.NODES, self.nodeName,
                             self._leaseValue(), self.leaseKeyMs, self.incarnation)

    # Connections ---------------------------------------------------------------------------

    @defer.inlineCallbacks
    def _commandsReady(self, conn):
        """The command connection is (back) up; before anyone else may use it."""
        marker = uuid.uuid4().hex
        yield conn.execute(b"SET", keys.EPOCH, marker, b"NX")
        epoch = yield conn.execute(b"GET", keys.EPOCH)
        lost = self.epoch is not None and epoch != self.epoch
        self.epoch = epoch
        self.connectedSince = self.clock.seconds()
        if not self.joined:
            return
        yield self.consumer.createGroup(conn)
        state = yield self._renewLease(conn=conn)
        self.clock.callLater(0, self._rejoined, state, lost)

    def _commandsLost(self):
        self.connectedSince = None
        self.locks.dropAll()

    def _rejoined(self, state, lost):
        if state == b"fenced":
            return self._fenced()
        if lost:
            log.msg("cluster: redis lost its data; registering again")
            self.bus.rerouteOutbox()
        self.writer.markAll()
        if lost:
            for session in self.sessions.localSessions():
                if not session.closed and session.available and session.priority >= 0:
                    self.deliverStored(session, afterId=session.lastRowWritten)

    def _inboxReady(self, conn):
        if self.joined:
            return self.consumer.createGroup(conn)

    @defer.inlineCallbacks
    def _subscribe(self, conn):
        yield conn.subscribe(self._published, keys.REGISTRY_CHANNEL, keys.UNLOCK_CHANNEL)
        # Subscribed first, then read: no change can fall in between.
        self.clock.callLater(0, self._resyncDirectory)

    def _published(self, channel, data):
        bare = data.decode("utf-8")
        if channel == keys.UNLOCK_CHANNEL.encode():
            self.locks.released(bare)
        elif not self.locks.isHeld(bare):
            # Under the lock this node has the registry exact already.
            self._refresh(bare)

    def _refresh(self, bare):
        d = self.link.execute(b"HGETALL", keys.sessions(bare))

        def got(raw):
            if not self.locks.isHeld(bare):
                self.directory.replace(bare, raw)

        d.addCallbacks(got, lambda _: None)

    @defer.inlineCallbacks
    def _resyncDirectory(self):
        """Every account's entries, from scratch (at start and after reconnecting)."""
        try:
            cursor = b"0"
            seen = set()
            while True:
                cursor, found = yield self.link.execute(
                    b"SCAN", cursor, b"MATCH", keys.SESSIONS_PATTERN, b"COUNT", 1000)
                for key in found:
                    bare = key.decode("utf-8")[len(keys.sessions("")):]
                    seen.add(bare)
                    self._refresh(bare)
                if cursor == b"0":
                    break
            for bare in list(self.directory.accounts):
                if bare not in seen and not self.locks.isHeld(bare):
                    self.directory.forget(bare)
        except (RedisConnectionLost, RedisError):
            pass

    # The lease and the others' -------------------------------------------------------------

    @defer.inlineCallbacks
    def _leaseTick(self):
        if not self.link.ready or not self.joined:
            return
        try:
            state = yield self._renewLease()
            if state == b"fenced":
                self._fenced()
                return
            if state == b"taken":
                log.msg("cluster: another process renews the lease of node %s: two nodes"
                        " share one name ([cluster] node)" % (self.nodeName,))
            since = self.connectedSince
            if since is None or self.clock.seconds() - since < self.lease:
                return
            members = yield self.link.execute(b"SMEMBERS", keys.NODES)
            for member in members or ():
                name = member.decode("utf-8")
                if name == self.nodeName or name in self._cleaning:
                    continue
                alive = yield self.link.execute(b"EXISTS", keys.lease(name))
                if not alive:
                    self._cleanUp(name)
        except (RedisConnectionLost, RedisError):
            pass
        except Exception:
            log.err(None, "cluster: lease renewal failed")

    def _cleanUp(self, name):
        self._cleaning.add(name)
        d = defer.ensureDeferred(cleanUpAfter(self, name))
        d.addErrback(log.err, "cluster: cleaning up after %s failed" % (name,))
        d.addBoth(lambda _: self._cleaning.discard(name))

    def _fenced(self):
        log.msg("cluster: the other nodes took node %s for dead and cleaned up after it;"
                " ending its sessions" % (self.nodeName,))
        for session in self.sessions.localSessions():
            session.sendStreamError("system-shutdown", "this cluster node was cut off")
        d = self.link.execute(b"DEL", keys.fenced(self.nodeName))
        d.addCallback(lambda _: self._renewLease(first=True))
        d.addCallback(lambda _: self.consumer.createGroup(self.link))
        d.addErrback(lambda _: None)

    # Leaving -------------------------------------------------------------------------------

    def leave(self):
        return defer.ensureDeferred(self._leave())

    async def _leave(self):
        if not self.running:
            return
        try:
            if self.joined and self.link.ready:
                for session in self.sessions.localSessions():
                    session.sendStreamError("system-shutdown", "this node is stopping")
                deadline = self.clock.seconds() + LEAVE_TIMEOUT
                await self._lanesIdle(deadline)
                # Nothing more is read: what the inbox holds is routed from it.
                self.inboxLink.stop()
                await self._lanesIdle(deadline)
                if self._leaseLoop is not None and self._leaseLoop.running:
                    self._leaseLoop.stop()
                await cleanUpAfter(self, self.nodeName, predecessor=True, leaving=True)
                await self.link.execute(b"DEL", keys.lease(self.nodeName))
                await self.link.execute(b"SREM", keys.NODES, self.nodeName)
                log.msg("cluster: node %s left the cluster" % (self.nodeName,))
        except Exception:
            log.err(None, "cluster: leaving the cluster failed")
        finally:
            self.running = False
            if self._leaseLoop is not None and self._leaseLoop.running:
                self._leaseLoop.stop()
            self.bus.stop()
            for link in (self.inboxLink, self.subscriber, self.link):
                link.stop()

    async def _lanesIdle(self, deadline):
        while self.lanes.pending() and self.clock.seconds() < deadline:
            await task.deferLater(self.clock, 0.05, lambda: None)

    # What other parts ask of the node ------------------------------------------------------

    def deliverStored(self, session, afterId=0):
        """Offline delivery of the account's stored messages to a local ``session``."""
        offline = getattr(session.host, "offline", None)
        delivery = getattr(offline, "delivery", None)
        if delivery is not None and not session.closed and session.available \
                and session.priority >= 0:
            delivery.schedule(session, afterId)
