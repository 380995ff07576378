"""
Writing this node's sessions into the registry, in the account's lane.

A session that binds, becomes available, changes priority or presence, or
ends marks its account; a job in the account's lane (so under its lock,
see xmppd.cluster.lanes) then writes the account's local sessions as they
are, in one script. Order with the rest of the lane is what matters:

- The write that makes a resource available runs before that resource's
  offline delivery (delivery is queued behind it when the resource became
  available): whatever another node stored before the write is in the
  database when delivery reads it; whatever comes after is routed to the
  resource, live, behind the stored ones.
- A write that takes a target away (the session ended, went unavailable,
  dropped below priority 0) is followed, under the same lock, by what the
  node's inbox still held for it: other nodes routed those messages there
  before the write, so they are routed again (xmppd.cluster.bus) before
  the lock lets any later decision through. The lane is pinned meanwhile.
- A full JID now bound here that the registry shows on another node was
  replaced (RFC 6120 §7.7.2.2): that node is told to close its session
  with ``<conflict/>``.
"""

from twisted.internet import defer
from twisted.python import log

from xmppd.cluster import keys, scripts
from xmppd.cluster.registry import isTargetState, stateOf


class RegistryWriter:
    def __init__(self, cluster):
        self.cluster = cluster
        # bare JID -> sessions changed since the account's last write
        self.dirty = {}
        # full JID -> whether the registry has it as a target (as we wrote it)
        self.published = {}

    def changed(self, session):
        bare = session.bareJID.userhost()
        pending = self.dirty.get(bare)
        if pending is not None:
            pending.add(session)
            return
        self.dirty[bare] = {session}
        # Ahead of what waits in the lane: the registry should not lag.
        d = self.cluster.lanes.runNext(bare, self.write, bare)
        d.addErrback(self._failed, bare)

    def _failed(self, reason, bare):
        # Written again, all of it, once Redis is back (markAll).
        if self.cluster.link.ready:
            log.err(reason, "cluster: writing the sessions of %s failed" % (bare,))

    def markAll(self):
        """Write every local session again (after Redis came back, possibly empty)."""
        self.published.clear()
        for session in self.cluster.sessions.localSessions():
            self.changed(session)

    def write(self, bare):
        return defer.ensureDeferred(self._write(bare))

    async def _write(self, bare):
        cluster = self.cluster
        sessions = cluster.sessions
        pinned = False
        try:
            changed = self.dirty.pop(bare, set())
            fulls = sorted({s.jid.full() for s in changed})
            args = []
            removedTarget = False
            replaced = []
            for full in fulls:
                local = sessions.localGet(full)
                wasTarget = self.published.get(full, False)
                if local is None or local.closed:
                    args += [full, ""]
                    self.published.pop(full, None)
                    removedTarget = removedTarget or wasTarget
                    continue
                target = isTargetState(local.available, local.priority)
                args += [full, stateOf(cluster.nodeName, local)]
                self.published[full] = target
                removedTarget = removedTarget or (wasTarget and not target)
                other = cluster.directory.get(full, bare)
                if other is not None and other.node != cluster.nodeName:
                    replaced.append(other)
            if not args:
                return
            for other in replaced:
                cluster.bus.kick(other.node, other.jid.full(), "conflict",
                                 "replaced by a new session")
                cluster.directory.accounts.get(bare, {}).pop(other.jid.full(), None)
            await cluster.link.execute(
                b"EVAL", scripts.WRITE_SESSIONS, 2, keys.sessions(bare),
                keys.nodeSessions(cluster.nodeName), cluster.nodeName,
                keys.REGISTRY_CHANNEL, bare, *args)
            cluster.metrics.registryWrites.inc()
            if removedTarget:
                # Other nodes routed to the removed target until the write:
                # what of that is still unread comes before any later
                # decision, so the lock is kept until it is routed again.
                cluster.lanes.pin(bare)
                pinned = True
                await cluster.consumer.caughtUp()
        finally:
            if pinned:
                cluster.lanes.run(bare, cluster.lanes.unpin, bare)
