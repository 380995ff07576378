"""
Writing this node's sessions into the registry, in the account's lane.

A session that binds, becomes available, changes priority or presence, or
ends marks its account; a job in the account's lane (so under its lock,
see xmppd.cluster.lanes) then writes the account's local sessions as they
are, in one script. The rules that keep each sender's order across nodes:

- **A resource is a target for messages to the bare JID only once it is
  written as one**, on its own node too (``ClusterSessionManager``): the
  write that makes a resource available runs before that resource's
  offline delivery (delivery is queued behind it), so whatever another
  node stored before the write is in the database when delivery reads it,
  and whatever comes after is routed to the resource, behind the stored
  ones.
- **A resource that stops being a target drains**: at once, outside the
  lock, its entry is marked ``draining``; then the locked write removes
  (or updates) it and, still under the lock, what the node's inbox held
  for it -- routed there by other nodes before the write -- is read and
  routed again (xmppd.cluster.bus). The lane stays pinned to the lock
  until that is done, so no later decision can overtake those messages.
- **No new target while another node drains**: a write that would make a
  resource a new target waits while any resource of the account on
  another node is draining, letting go of the lock so that node can
  finish. Otherwise a sender's next message could reach the new resource
  before its previous one, still in the draining node's inbox, does.
- **A full JID bound on another node is not overwritten**: that node is
  told to close its session with ``<conflict/>`` (RFC 6120 §7.7.2.2) and
  the write waits until it has drained and removed its entry.
"""

from twisted.internet import defer
from twisted.python import log

from xmppd.cluster import keys, scripts
from xmppd.cluster.registry import isTargetState, stateOf


def isTargetNow(session):
    return not session.closed and isTargetState(session.available, session.priority)


class RegistryWriter:
    def __init__(self, cluster):
        self.cluster = cluster
        # bare JID -> sessions changed since the account's last write
        self.dirty = {}

    def changed(self, session):
        if session.clusterTarget and not session.clusterDraining and not isTargetNow(session):
            self.drain(session)
        bare = session.bareJID.userhost()
        pending = self.dirty.get(bare)
        if pending is not None:
            pending.add(session)
            return
        self.dirty[bare] = {session}
        # Ahead of what waits in the lane: the registry should not lag.
        d = self.cluster.lanes.runNext(bare, self.write, bare)
        d.addErrback(self._failed, bare)

    def drain(self, session):
        """Mark the entry draining now, ahead of anything else this node sends."""
        session.clusterDraining = True
        link = self.cluster.link
        if link.ready:
            link.execute(b"EVAL", scripts.MARK_DRAINING, 1, keys.sessions(session.bareJID.userhost()),
                         self.cluster.nodeName, session.jid.full()).addErrback(lambda _: None)

    def _failed(self, reason, bare):
        # Written again, all of it, once Redis is back (markAll).
        if self.cluster.link.ready:
            log.err(reason, "cluster: writing the sessions of %s failed" % (bare,))

    def markAll(self):
        """Write every local session again (after Redis came back, possibly empty)."""
        for session in self.cluster.sessions.localSessions():
            session.clusterTarget = False
            session.clusterDraining = False
            self.changed(session)

    def write(self, bare):
        return defer.ensureDeferred(self._write(bare))

    async def _write(self, bare):
        cluster = self.cluster
        pinned = False
        kicked = set()
        try:
            pending = self.dirty.pop(bare, set())
            while pending:
                skipped, removedTarget = await self._writeOnce(bare, pending, kicked)
                if removedTarget and not pinned:
                    # Other nodes routed to the removed target until the
                    # write: what of that is still unread comes before any
                    # later decision, so the lock is kept until it is
                    # routed again.
                    cluster.lanes.pin(bare)
                    pinned = True
                    await cluster.consumer.caughtUp()
                if not skipped:
                    break
                # Another node drains, or still holds a full JID bound here:
                # it needs the lock to finish.
                await cluster.lanes.relinquish(bare)
                pending = {s for s in pending if s.jid.full() in skipped}
        finally:
            if pinned:
                cluster.lanes.run(bare, cluster.lanes.unpin, bare)

    async def _writeOnce(self, bare, pending, kicked):
        cluster = self.cluster
        sessions = cluster.sessions
        args = []
        removedTarget = False
        written = []
        for full in sorted({s.jid.full() for s in pending}):
            for old in pending:
                if old.jid.full() == full and old.closed:
                    removedTarget = removedTarget or old.clusterTarget
                    old.clusterTarget = False
            local = sessions.localGet(full)
            if local is None or local.closed:
                args += [full, "", "0"]
                continue
            target = isTargetNow(local)
            newTarget = target and not local.clusterTarget
            if local.clusterTarget and not target:
                removedTarget = True
            args += [full, stateOf(cluster.nodeName, local), "1" if newTarget else "0"]
            written.append((local, target))
        if not args:
            return set(), removedTarget
        reply = await cluster.link.execute(
            b"EVAL", scripts.WRITE_SESSIONS, 2, keys.sessions(bare),
            keys.nodeSessions(cluster.nodeName), cluster.nodeName,
            keys.REGISTRY_CHANNEL, bare, *args)
        cluster.metrics.registryWrites.inc()
        skipped = {}
        for i in range(0, len(reply or ()) - 1, 2):
            skipped[reply[i].decode("utf-8")] = reply[i + 1].decode("utf-8")
        for local, target in written:
            full = local.jid.full()
            if full in skipped:
                continue
            if target:
                local.clusterDraining = False
            local.clusterTarget = target
        for full, owner in skipped.items():
            if owner and (full, owner) not in kicked:
                kicked.add((full, owner))
                cluster.bus.kick(owner, full, "conflict", "replaced by a new session")
        return set(skipped), removedTarget
