"""
The account lane made cluster-wide (xmppd.cluster.lanes), with two nodes
in this process on the test's Redis: one lane of an account runs on one
node at a time, a released lock wakes the waiting node at once, and a
lock lost with the connection is taken again before the next job.
"""

import time

import pytest_twisted
from twisted.internet import defer, reactor, task

from xmppd.cluster import keys
from xmppd.cluster.lanes import AccountLocks, ClusterLanes, POLL
from xmppd.cluster.link import RedisLink
from xmppd.cluster.registry import Directory
from xmppd.cluster.resp import parseAddress


class _Metric:
    def observe(self, value):
        pass

    def inc(self, amount=1):
        pass


class _Metrics:
    lockWait = lockContended = _Metric()


class Node:
    """What AccountLocks and ClusterLanes need of a cluster node, and no more."""

    def __init__(self, redis, name):
        self.nodeName = name
        self.incarnation = "test"
        self.clock = reactor
        self.running = True
        self.metrics = _Metrics()
        self.directory = Directory(self)
        self.locks = AccountLocks(self, ttl=2.0)
        self.lanes = ClusterLanes(self)
        address = parseAddress(redis.url)
        self.link = RedisLink(reactor, address, "commands")
        self.subscriber = RedisLink(reactor, address, "unlock", onReady=self._subscribe)

    def _subscribe(self, conn):
        return conn.subscribe(lambda channel, bare: self.locks.released(bare.decode()),
                              keys.UNLOCK_CHANNEL)

    async def start(self):
        self.link.start()
        self.subscriber.start()
        await self.link.whenReady()
        await self.subscriber.whenReady()

    def stop(self):
        self.running = False
        self.link.stop()
        self.subscriber.stop()


@pytest_twisted.async_yield_fixture
async def nodes(redis):
    started = [Node(redis, "node1"), Node(redis, "node2")]
    for node in started:
        await node.start()
    yield started
    for node in started:
        node.stop()
    await task.deferLater(reactor, 0.01, lambda: None)


def sleep(seconds):
    return task.deferLater(reactor, seconds, lambda: None)


@pytest_twisted.ensureDeferred
async def test_one_accounts_lane_runs_on_one_node_at_a_time(nodes, redis):
    running = []
    overlaps = []
    spans = []

    async def job(node, n):
        if running:
            overlaps.append((node.nodeName, n, list(running)))
        running.append(node.nodeName)
        start = time.monotonic()
        await sleep(0.002)
        running.remove(node.nodeName)
        spans.append((node.nodeName, n, start))

    jobs = [node.lanes.run("bob@localhost", lambda node=node, n=n: defer.ensureDeferred(
                job(node, n)))
            for n in range(40) for node in nodes]
    await defer.gatherResults(jobs)
    assert overlaps == []
    # Each node's jobs ran in the order they were queued there.
    for node in nodes:
        mine = [n for name, n, _ in sorted(spans, key=lambda s: s[2]) if name == node.nodeName]
        assert mine == list(range(40))
    # And both got turns (TENURE): not one node's forty, then the other's.
    order = [name for name, _, _ in sorted(spans, key=lambda s: s[2])]
    switches = sum(1 for a, b in zip(order, order[1:]) if a != b)
    assert switches >= 2, order
    await sleep(0)
    assert not any(node.locks.held for node in nodes)
    assert redis.command("GET", "xmppd:lock:bob@localhost") is None


@pytest_twisted.ensureDeferred
async def test_a_released_lock_wakes_the_node_waiting_for_it_at_once(nodes):
    first, second = nodes
    held = defer.Deferred()
    release = defer.Deferred()

    def long(_=None):
        held.callback(None)
        return release

    first.lanes.run("carol@localhost", long)
    await held
    started = time.monotonic()
    waited = second.lanes.run("carol@localhost", lambda: time.monotonic())
    await sleep(0.3)
    assert not waited.called
    releasedAt = time.monotonic()
    release.callback(None)
    ranAt = await waited
    assert ranAt - releasedAt < POLL / 2, (ranAt - releasedAt, ranAt - started)


@pytest_twisted.ensureDeferred
async def test_the_registry_read_with_the_lock_is_what_routing_sees(nodes, redis):
    first, _ = nodes
    redis.command("HSET", "xmppd:sessions:dave@localhost", "dave@localhost/pc",
                  '{"node":"node2","available":true,"priority":5}')

    def look():
        return [(s.jid.full(), s.node, s.available, s.priority)
                for s in first.directory.resources("dave@localhost")]

    assert await first.lanes.run("dave@localhost", look) == [
        ("dave@localhost/pc", "node2", True, 5)]


@pytest_twisted.ensureDeferred
async def test_a_lock_lost_with_redis_is_taken_again_before_the_next_job(nodes, redis):
    first, _ = nodes
    tokens = []

    def note():
        tokens.append(first.locks.held["erin@localhost"].token)

    await first.lanes.run("erin@localhost", note)

    def restartRedis():
        redis.restart()
        return sleep(0.05)

    first.lanes.run("erin@localhost", restartRedis)
    second = first.lanes.run("erin@localhost", note)
    await second
    assert len(tokens) == 2 and tokens[0] != tokens[1]
    assert redis.command("GET", "xmppd:lock:erin@localhost") in (None, tokens[1].encode())
