"""
The account's lane, cluster-wide: the per-account FIFO of xmppd.lanes, run
on a node only while that node holds the account's lock in Redis.

On one node, everything that decides where an account's messages go --
routing a message to it, storing it offline, delivering the stored ones at
login, routing again what a departed session left -- runs in the account's
lane, one job at a time. With several nodes each has its own lanes, so
each takes the account's lock (``xmppd:lock:<bare>``, SET NX PX with a
token) before it runs a job of that lane, and keeps it while its lane has
work: the decisions of all nodes for one account are then taken one at a
time, as on a single node.

What makes that sound:

- The lock is taken together with a read of the account's registry hash
  (one Lua script), and every write of that hash is made under the lock
  (registration, availability, removal, a dead node's cleanup), so that a
  holder routes on the registry exactly as it is.
- After each job the lane waits until every command the job sent to Redis
  is answered (``RedisLink.barrier``): the stream entries it added are in
  the recipients' inboxes before the next decision, and before the
  release, which travels on the same connection behind them.
- The lock is renewed (every ttl/3) while held; a renewal that fails, or a
  lost connection, ends the tenure, and the lane takes the lock again
  before its next job. A job already running when that happens finishes
  (nothing can stop it half way): the one window where two nodes may
  decide for one account at once, and only after Redis failed.
- A lane that holds the lock longer than ``TENURE`` lets go between two
  jobs so that other nodes' lanes for the account get their turn, except
  while it is *pinned*: between the removal of a resource from the
  registry and the re-routing of what its node's inbox still held for it
  (xmppd.cluster.writer), which must come before anything decided later.

A node waiting for the lock marks it wanted; the holder's release then
publishes the account on the unlock channel and the waiters try again at
once (else they poll, at most ``POLL`` apart).
"""

import itertools

from twisted.internet import defer
from twisted.python import failure, log

from xmppd.cluster import keys, scripts
from xmppd.cluster.resp import RedisConnectionLost, RedisError
from xmppd.lanes import Lanes

TENURE = 0.05
POLL = 0.1
# After letting go for fairness of a lock another node waited for, wait
# this long before asking again: time for that node to take its turn.
YIELD_PAUSE = 0.01
# A job that waits for another node (a drain, a replaced session) asks again after this.
RELINQUISH_PAUSE = 0.01


class Tenure:
    __slots__ = ("token", "since", "validUntil", "timer")

    def __init__(self, token, since, validUntil):
        self.token = token
        self.since = since
        self.validUntil = validUntil
        self.timer = None


class AccountLocks:
    """The account locks this node holds, their renewal, and waiting for them."""

    def __init__(self, cluster, ttl):
        self.cluster = cluster
        self.ttl = ttl
        self.ttlMs = int(ttl * 1000)
        self.held = {}
        self._waiting = {}
        self._tokens = itertools.count(1)
        # Prefixes of tokens whose nodes are dead: their locks are broken
        # instead of waited out (xmppd.cluster.cleanup).
        self.deadPrefixes = set()

    @property
    def clock(self):
        return self.cluster.clock

    @property
    def ownPrefix(self):
        return "%s|%s|" % (self.cluster.nodeName, self.cluster.incarnation)

    def isHeld(self, bare):
        tenure = self.held.get(bare)
        return tenure is not None and self.clock.seconds() < tenure.validUntil and \
            self.cluster.link.ready

    def tenureAge(self, bare):
        tenure = self.held.get(bare)
        return 0 if tenure is None else self.clock.seconds() - tenure.since

    @defer.inlineCallbacks
    def acquire(self, bare):
        """Fires once this node holds the account's lock (retrying as long as it takes)."""
        metrics = self.cluster.metrics
        started = self.clock.seconds()
        link = self.cluster.link
        while True:
            if not self.cluster.running:
                raise RedisConnectionLost("the cluster service stopped")
            try:
                yield link.whenReady()
            except RedisConnectionLost:
                if not self.cluster.running:
                    raise
                continue
            token = "%s%d" % (self.ownPrefix, next(self._tokens))
            sent = self.clock.seconds()
            try:
                reply = yield link.execute(
                    b"EVAL", scripts.ACQUIRE, 3, keys.lock(bare), keys.sessions(bare),
                    keys.wanted(bare), token, self.ttlMs, self.ownPrefix,
                    *sorted(self.deadPrefixes))
            except RedisConnectionLost:
                continue
            except RedisError as e:
                log.msg("cluster: taking the lock of %s failed: %s" % (bare, e))
                yield self._sleep(POLL)
                continue
            if reply[0] == 1:
                self.cluster.directory.replace(bare, reply[1])
                tenure = Tenure(token, sent, sent + self.ttl * 0.9)
                self.held[bare] = tenure
                self._scheduleRenewal(bare, tenure)
                metrics.lockWait.observe(self.clock.seconds() - started)
                return
            metrics.lockContended.inc()
            left = reply[1] / 1000.0 if reply[1] and reply[1] > 0 else POLL
            yield self._waitForRelease(bare, min(left, POLL))

    def _sleep(self, seconds):
        d = defer.Deferred()
        self.clock.callLater(seconds, lambda: d.called or d.callback(None))
        return d

    def _waitForRelease(self, bare, timeout):
        d = defer.Deferred()
        self._waiting.setdefault(bare, []).append(d)

        def expire():
            waiters = self._waiting.get(bare, [])
            if d in waiters:
                waiters.remove(d)
                if not waiters:
                    del self._waiting[bare]
            if not d.called:
                d.callback(None)

        call = self.clock.callLater(timeout, expire)
        d.addBoth(lambda r: (call.active() and call.cancel(), r)[1])
        return d

    def released(self, bare):
        """Another node announced the release of ``bare``'s lock (unlock channel)."""
        for waiter in self._waiting.pop(bare, []):
            if not waiter.called:
                waiter.callback(None)

    def _scheduleRenewal(self, bare, tenure):
        tenure.timer = self.clock.callLater(self.ttl / 3.0, self._renew, bare, tenure)

    def _renew(self, bare, tenure):
        tenure.timer = None
        if self.held.get(bare) is not tenure:
            return
        sent = self.clock.seconds()
        d = self.cluster.link.execute(b"EVAL", scripts.RENEW, 1, keys.lock(bare),
                                      tenure.token, self.ttlMs)

        def renewed(result):
            if self.held.get(bare) is not tenure:
                return
            if result == 1:
                tenure.validUntil = sent + self.ttl * 0.9
                self._scheduleRenewal(bare, tenure)
            else:
                log.msg("cluster: the lock of %s was lost" % (bare,))
                self._drop(bare)

        def failed(reason):
            if self.held.get(bare) is tenure:
                self._drop(bare)

        d.addCallbacks(renewed, failed)

    def _drop(self, bare):
        tenure = self.held.pop(bare, None)
        if tenure is not None and tenure.timer is not None and tenure.timer.active():
            tenure.timer.cancel()
        return tenure

    def release(self, bare):
        """Fires True if another node was waiting for the lock."""
        tenure = self._drop(bare)
        if tenure is None or not self.cluster.link.ready:
            return defer.succeed(False)
        d = self.cluster.link.execute(
            b"EVAL", scripts.RELEASE, 2, keys.lock(bare), keys.wanted(bare),
            tenure.token, keys.UNLOCK_CHANNEL, bare)
        d.addCallbacks(lambda released: released == 2, lambda _: False)
        return d

    def dropAll(self):
        """The connection to Redis is gone: no lock can be counted on any more."""
        for bare in list(self.held):
            self._drop(bare)


class ClusterLanes(Lanes):
    """xmppd.lanes.Lanes whose jobs for an account run only under the account's lock."""

    def __init__(self, cluster):
        Lanes.__init__(self)
        self.cluster = cluster
        self._acquiring = set()
        self._pinned = {}
        self._pausing = set()
        self._running = set()

    @property
    def locks(self):
        return self.cluster.locks

    def runNext(self, key, job, *args):
        """
        As Lanes.runNext: ahead of every job still waiting -- also when no
        job is running at that moment (called as one job settles, from its
        callbacks, before the next one starts: then first of all).
        """
        def ahead(queue, item):
            queue.insert(1 if key in self._running else 0, item)
        return self._enqueue(key, (job, args, defer.Deferred()), ahead)

    def relinquish(self, key):
        """
        From a running job of ``key``'s lane: let go of the account's lock
        for a moment and fire once it is held again (with the registry
        read anew). The lane keeps its place: nothing else of it runs
        meanwhile on this node.
        """
        self.locks.release(key)
        return defer.ensureDeferred(self._relinquished(key))

    async def _relinquished(self, key):
        d = defer.Deferred()
        self.cluster.clock.callLater(RELINQUISH_PAUSE, d.callback, None)
        await d
        await self.locks.acquire(key)

    def pending(self):
        """How many accounts have jobs waiting or running."""
        return len(self._queues)

    def pin(self, key):
        """Keep the lock between jobs, whatever the tenure, until ``unpin``."""
        self._pinned[key] = self._pinned.get(key, 0) + 1

    def unpin(self, key):
        count = self._pinned.get(key, 0) - 1
        if count > 0:
            self._pinned[key] = count
        else:
            self._pinned.pop(key, None)

    def _pump(self, key):
        queue = self._queues[key]
        locks = self.locks
        while queue:
            if key in self._acquiring or key in self._pausing:
                return
            if not locks.isHeld(key):
                self._acquire(key)
                return
            if locks.tenureAge(key) > TENURE and not self._pinned.get(key):
                # Other nodes' lanes for this account get their turn.
                self._pause(key, locks.release(key))
                return
            job, args, _ = queue[0]
            finishedNow = []
            running = [True]

            def done(outcome, finishedNow=finishedNow, running=running):
                self._running.discard(key)
                if running[0]:
                    finishedNow.append(outcome)
                else:
                    self._settle(key, outcome)
                    self._pump(key)

            self._running.add(key)
            d = defer.maybeDeferred(job, *args)
            d.addBoth(self._flushed)
            d.addBoth(done)
            running[0] = False
            if not finishedNow:
                return
            self._settle(key, finishedNow[0])
        del self._queues[key]
        locks.release(key)

    def _flushed(self, outcome):
        """The job's outcome, once Redis has answered everything the job sent."""
        barrier = self.cluster.link.barrier()
        if barrier.called:
            return outcome
        barrier.addBoth(lambda _: outcome)
        return barrier

    def _acquire(self, key):
        self._acquiring.add(key)
        d = self.locks.acquire(key)

        def acquired(result):
            self._acquiring.discard(key)
            if key in self._queues:
                self._pump(key)
            else:
                self.locks.release(key)
            return result

        def failed(reason):
            self._acquiring.discard(key)
            # The cluster stopped: the jobs cannot run under a lock any more.
            queue = self._queues.pop(key, None) or []
            for _, _, result in queue:
                result.errback(failure.Failure(RedisConnectionLost("no account lock")))

        d.addCallbacks(acquired, failed)

    def _pause(self, key, released):
        """Ask again for the lock just let go: at once, or after a pause if it was wanted."""
        self._pausing.add(key)

        def again():
            self._pausing.discard(key)
            if key in self._queues:
                self._pump(key)

        def wait(wanted):
            self.cluster.clock.callLater(YIELD_PAUSE if wanted else 0, again)

        released.addCallback(wait)
