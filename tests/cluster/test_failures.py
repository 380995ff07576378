"""
A cluster when a part of it fails (issue 17): a node killed with SIGKILL
-- within the lease its users are offline for their contacts, and nothing
sent to them is lost -- and Redis restarted under load, empty: the nodes
recover without a restart and lose nothing they acknowledged.
"""

import asyncio
import json
import os
import subprocess
import sys
import time

from tests.aio import asyncioTest
from tests.cluster.scenarios import OrderedTally, leaveCleanly, password, receiveFor
from tests.cluster.test_routing import untilRegistered
from tests.modules.test_roster import online as onlineWithRoster, subscribeBothWays
from tests.reliability.common import Tally, connect, online, relogin, waitStored
from tests.rawclient import NS_CLIENT, q

LEASE = 2.0
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


async def xmppctl(node, *args):
    """``xmppctl -c NODE-CONFIG ARGS`` as an operator runs it, in a subprocess."""
    argv = [sys.executable, "-c", "from xmppd.ctl import main; main()",
            "-c", node.process.configPath] + list(args)
    return await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True,
                                   env=dict(os.environ, PYTHONPATH=REPO), timeout=60)


def message(tally, recipient="bob"):
    key = tally.next()
    return key, ("<message to='%s@localhost' type='chat' id='%s'><body>%s</body></message>"
                 % (recipient, key, key))


def isUnavailableFrom(element, full):
    return (element.tag == q(NS_CLIENT, "presence") and element.get("from") == full
            and element.get("type") == "unavailable")


async def sendSome(client, tally, count, seen=None, watch=None):
    """``count`` messages to bob; the server has read them on return."""
    for _ in range(count):
        client.sendRaw(message(tally)[1])
    for element in await client.roundTrip(30):
        tally.record(element)
        if watch is not None and isUnavailableFrom(element, watch):
            seen.set()


@asyncioTest
async def test_a_killed_nodes_users_go_offline_within_the_lease_and_lose_nothing(cluster):
    nodes = await cluster(3, lease="%gs" % LEASE)
    alice = await onlineWithRoster(nodes[0], "alice", "desk")
    bob = await onlineWithRoster(nodes[1], "bob", "phone")
    await untilRegistered(nodes, "alice@localhost/desk")
    await untilRegistered(nodes, "bob@localhost/phone")
    await subscribeBothWays(alice, bob)
    carol = await connect(nodes[2], password("carol"), "desk")
    tally = Tally("kill")

    # bob reads but never acknowledges: everything node 2 wrote to him is
    # what it cannot prove he has.
    bob.answerPings = False
    bob.keepReading()
    await sendSome(alice, tally, 30)
    await sendSome(carol, tally, 30)
    deadline = time.monotonic() + 10
    while sum(tally.arrivals.values()) < 40 and time.monotonic() < deadline:
        try:
            tally.record(await bob.expect(1))
        except asyncio.TimeoutError:
            pass
    assert sum(tally.arrivals.values()) >= 40

    status = await xmppctl(nodes[2], "cluster", "status", "--json")
    assert status.returncode == 0, status.stderr
    rows = {row["node"]: row for row in json.loads(status.stdout)}
    assert sorted(rows) == ["node1", "node2", "node3"]
    assert [rows[n]["state"] for n in sorted(rows)] == ["alive"] * 3
    # alice's desk, bob's phone, carol's desk.
    assert [rows[n]["sessions"] for n in sorted(rows)] == [1, 1, 1]
    assert all(0 <= rows[n]["leaseAge"] < LEASE for n in rows), rows

    await nodes[1].kill()
    killed = time.monotonic()
    gone = asyncio.Event()
    # Sent while the others still take node 2 for alive, and after.
    await sendSome(alice, tally, 30, gone, "bob@localhost/phone")
    await sendSome(carol, tally, 30)

    while not gone.is_set():
        left = killed + LEASE + 3 - time.monotonic()
        assert left > 0, "bob never went offline for alice"
        element = await alice.expect(left)
        if isUnavailableFrom(element, "bob@localhost/phone"):
            gone.set()
    offlineAfter = time.monotonic() - killed
    # The lease key's expiry, a check, the cleanup: within the lease.
    assert offlineAfter < LEASE, offlineAfter
    assert nodes.redis.command("HGETALL", "xmppd:sessions:bob@localhost") == []
    # The survivor that cleaned up is done: node 2 is out of the cluster.
    deadline = time.monotonic() + 10
    while nodes.redis.command("SISMEMBER", "xmppd:nodes", "node2"):
        assert time.monotonic() < deadline, nodes.logs()
        await asyncio.sleep(0.05)

    status = await xmppctl(nodes[0], "cluster", "status")
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert lines[0].split() == ["NODE", "STATE", "PID", "SESSIONS", "INBOX", "LEASE", "AGE",
                                "UPTIME"]
    assert [line.split()[:2] for line in lines[1:]] == [["node1", "alive"], ["node3", "alive"]]

    await sendSome(alice, tally, 20)
    await sendSome(carol, tally, 20)
    await relogin(nodes[2], password("bob"), tally)
    figures = tally.result(offlineAfter=round(offlineAfter, 2))
    assert figures["sent"] == 160
    assert figures["lost"] == 0, (figures, tally.missing()[:10], nodes.logs())
    # Only what node 2 had written and not seen acknowledged may come twice.
    assert figures["duplicated"] <= 60, figures


@asyncioTest
async def test_redis_restarted_under_load_loses_nothing_acknowledged(cluster):
    nodes = await cluster(3)
    senders = [await connect(nodes[i], password(name), "desk")
               for i, name in ((0, "alice"), (1, "carol"), (2, "dave"))]
    for sender in senders:
        enabled = await sender.enableSM(resume=False)
        assert enabled.tag == "{urn:xmpp:sm:3}enabled"
    phone = await online(nodes[1], password("bob"), "phone", sm="plain")
    await untilRegistered(nodes, "bob@localhost/phone")
    tally = OrderedTally("redis")
    acked = {sender: 0 for sender in senders}
    stop = asyncio.Event()

    async def send(sender, name):
        n = 0
        while not stop.is_set():
            for _ in range(10):
                key = "redis-%s-%d" % (name, n)
                n += 1
                tally.sent.append(key)
                sender.sendRaw("<message to='bob@localhost' type='chat' id='%s'>"
                               "<body>%s</body></message>" % (key, key))
            # XEP-0198: h counts only what the server handled (routed to an
            # inbox, stored or bounced).
            acked[sender] = await sender.requestAck(60)
            await asyncio.sleep(0.02)

    sending = [asyncio.ensure_future(send(s, name))
               for s, name in zip(senders, ("alice", "carol", "dave"))]
    await receiveFor(phone, tally, 1.0, 10 ** 6)
    nodes.redis.restart(downFor=0.5)
    restarted = time.monotonic()
    await receiveFor(phone, tally, 3.0, 10 ** 6)
    # The cluster is whole again: the registry has bob, and messages flow.
    state = await untilRegistered(nodes, "bob@localhost/phone", timeout=10)
    assert state["node"] == "node2"
    assert sorted(m.decode() for m in nodes.redis.command("SMEMBERS", "xmppd:nodes")) == [
        "node1", "node2", "node3"]
    stop.set()
    await asyncio.gather(*sending)
    recoveredIn = time.monotonic() - restarted
    ackedKeys = set()
    for sender in senders:
        ackedKeys.update(tally.keyOf(e) for e in sender.sm.ackedSent())
    # Routing works again on every node: a message from each reaches bob.
    after = Tally("after")
    for sender in senders:
        sender.sendRaw(message(after)[1])
    deadline = time.monotonic() + 10
    while not after.complete() and time.monotonic() < deadline:
        try:
            element = await phone.expect(1)
        except asyncio.TimeoutError:
            continue
        after.record(element) or tally.record(element)
    assert after.complete(), after.missing()
    deadline = time.monotonic() + 30
    while not all(tally.arrivals[k] for k in ackedKeys) and time.monotonic() < deadline:
        await receiveFor(phone, tally, 1.0, 10 ** 6)
    await leaveCleanly(phone, tally)
    missing = [k for k in ackedKeys if not tally.arrivals[k]]
    if missing:
        # Perhaps stored after bob's session: a last login collects it.
        await relogin(nodes[0], password("bob"), tally)
        missing = [k for k in ackedKeys if not tally.arrivals[k]]
    figures = tally.result(acked=len(ackedKeys), recoveredIn=round(recoveredIn, 2))
    assert len(ackedKeys) > 100, figures
    assert missing == [], (len(missing), sorted(missing)[:10], figures, nodes.logs())


@asyncioTest
async def test_a_node_frozen_past_its_lease_ends_its_sessions_when_it_wakes(cluster):
    import signal
    nodes = await cluster(2, lease="%gs" % LEASE)
    alice = await onlineWithRoster(nodes[0], "alice", "desk")
    bob = await onlineWithRoster(nodes[1], "bob", "phone")
    await untilRegistered(nodes, "alice@localhost/desk")
    await untilRegistered(nodes, "bob@localhost/phone")
    await subscribeBothWays(alice, bob)

    nodes[1].process.signal(signal.SIGSTOP)
    try:
        # Taken for dead: bob is offline for alice, and node 2 is fenced.
        await expectUnavailable(alice, "bob@localhost/phone", LEASE + 1)
        deadline = time.monotonic() + 5
        while not nodes.redis.command("EXISTS", "xmppd:fenced:node2"):
            assert time.monotonic() < deadline, nodes.logs()
            await asyncio.sleep(0.05)
        alice.sendRaw("<message to='bob@localhost' type='chat' id='f1'><body>while frozen"
                      "</body></message>")
        assert await waitStored(nodes[0], "bob", 1, timeout=5) == 1
    finally:
        nodes[1].process.signal(signal.SIGCONT)
    # Awake, it does not serve a session the others wrote off: bob's client
    # is told, and logs in again (here on node 1) to what was stored.
    await bob.expectStreamError("system-shutdown")
    again = await onlineWithRoster(nodes[0], "bob", "phone")
    stored = await again.expect()
    while stored.tag == q(NS_CLIENT, "presence"):
        stored = await again.expect()
    assert stored.findtext(q(NS_CLIENT, "body")) == "while frozen"
    # And node 2 is a node again, empty.
    deadline = time.monotonic() + 5
    while not nodes.redis.command("SISMEMBER", "xmppd:nodes", "node2"):
        assert time.monotonic() < deadline, nodes.logs()
        await asyncio.sleep(0.05)
    assert nodes.redis.command("EXISTS", "xmppd:fenced:node2") == 0


async def expectUnavailable(client, full, timeout):
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, "%s never went unavailable" % full
        if isUnavailableFrom(await client.expect(left), full):
            return


@asyncioTest
async def test_a_node_restarted_at_once_routes_what_its_previous_run_left_in_its_inbox(cluster):
    nodes = await cluster(2, lease="30s")
    alice = await connect(nodes[0], password("alice"), "desk")
    bob = await online(nodes[1], password("bob"), "phone")
    await untilRegistered(nodes, "bob@localhost/phone")
    bob.answerPings = False
    tally = Tally("restart")
    await sendSome(alice, tally, 20)
    deadline = time.monotonic() + 10
    while sum(tally.arrivals.values()) < 20 and time.monotonic() < deadline:
        try:
            tally.record(await bob.expect(1))
        except asyncio.TimeoutError:
            pass
    await nodes[1].kill()
    await sendSome(alice, tally, 10)
    # Long before its 30 s lease ran out: the new run cleans up the old.
    await nodes[1].restart()
    assert await waitStored(nodes[0], "bob", 30, timeout=10) == 30
    assert nodes.redis.command("HGETALL", "xmppd:sessions:bob@localhost") == []
    await relogin(nodes[1], password("bob"), tally)
    assert tally.result()["lost"] == 0, tally.result()
