"""
Delivery (SPEC §3): the cases a transcript cannot state -- a live message
racing the pop, and expiry on an injected clock. The trigger, the target,
the order across batches and "never twice" are transcripts
(``transcripts/*.scs``).
"""

import xml.etree.ElementTree as ET

import pytest

from xmppd.api import IOfflineService

from tests.aio import asyncioTest, wait
from tests.conftest import WITH_MEMORY
from tests.offline.transcript import (
    connect, expectMessages, expectSilence, leave, online, readUntilDelivered, send,
    sendPresence, settle, storedCount)
from tests.rawclient import NS_CLIENT, RawClient, q

BOB = "bob@localhost"
BACKENDS = pytest.mark.parametrize("backend", WITH_MEMORY)


async def aliceLeaves(xmpp, count, prefix="m"):
    alice = await online(xmpp, "alice")
    for n in range(count):
        send(alice, BOB, "%s%d" % (prefix, n), "message %d" % n)
    assert await settle(xmpp, "bob", alice) == [[]]
    assert await storedCount(xmpp, "bob") == count
    return alice


@BACKENDS
@asyncioTest
async def test_live_message_during_delivery_comes_after_the_stored_ones(serve, backend):
    xmpp = await serve(backend, offline={"delivery_batch": 5})
    alice = await aliceLeaves(xmpp, 30)
    bob = await connect(xmpp, "bob")
    # The live message races the pop (or the store, if it wins): whichever
    # way, it comes after the stored ones.
    bob.sendRaw("<presence/>")
    send(alice, BOB, "live", "live message")
    reflected = await bob.expect()
    assert reflected.tag == q(NS_CLIENT, "presence")
    received = await expectMessages(bob, 31)
    assert [m.get("id") for m in received] == ["m%d" % n for n in range(30)] + ["live"]
    await expectSilence(bob)


@BACKENDS
@asyncioTest
async def test_expired_messages_are_never_delivered_and_the_sweep_deletes_them(
        serve, backend):
    from twisted.internet.defer import Deferred
    from twisted.internet.task import Clock
    xmpp = await serve(backend, offline={"max_age": "1h"})
    host = xmpp.host()
    alice = await online(xmpp, "alice")
    send(alice, BOB, "short", "gone in a minute",
         payload="<x xmlns='jabber:x:expire' seconds='60'/>")
    send(alice, BOB, "long", "an old one")
    assert await settle(xmpp, "bob", alice) == [[]]
    expired = []
    host.events.hook("offline/expired", lambda *args: expired.append(args))
    # Two minutes later: the short one is expired, not yet swept.
    clock = Clock()
    offline = host.service(IOfflineService)
    clock.advance(offline.clock.seconds() + 120)
    sweeper = offline.sweeper
    sweeper.release()
    offline.clock = clock
    sweeper.acquire()
    bob = await online(xmpp, "bob")
    [message] = await expectMessages(bob, 1)
    assert message.get("id") == "long"
    await expectSilence(bob)
    await leave(xmpp, bob)
    assert await storedCount(xmpp, "bob") == 1
    # The sweep runs on the injected clock, every expire_interval.
    swept = Deferred()
    host.events.hook("offline/expired", lambda *args: swept.called or swept.callback(None))
    clock.advance(60)
    await wait(swept)
    assert [(r, s) for r, s, _ in expired] == [(BOB, "alice@localhost")]
    assert "gone in a minute" in expired[0][2]
    assert await storedCount(xmpp, "bob") == 0


@BACKENDS
@asyncioTest
async def test_max_age_sweep_deletes_old_messages(serve, backend):
    xmpp = await serve(backend, offline={"max_age": "1h"})
    await aliceLeaves(xmpp, 2)
    service = xmpp.host().service(IOfflineService)
    assert await wait(service.sweeper.sweep(service.now() + 30 * 60 * 10**6)) == 0
    assert await storedCount(xmpp, "bob") == 2
    assert await wait(service.sweeper.sweep(service.now() + 2 * 3600 * 10**6)) == 2
    assert await storedCount(xmpp, "bob") == 0


async def bobReadsFirstBatchThenStops(xmpp, alice, stop, batch):
    """
    Bob comes online with messages held for him behind his stored ones
    (live ones routed while his delivery waited in his lane), reads the
    first batch and ``stop``s being a target before he acknowledges it.
    Returns the ids he read until then and the client.
    """
    from twisted.internet.defer import Deferred

    gate = Deferred()
    xmpp.server.pipeline.run(BOB, lambda: gate)
    for n in range(3):
        send(alice, BOB, "live%d" % n, "live message %d" % n)
    # Routed into bob's lane, behind the gate, before his presence.
    assert await alice.roundTrip() == []
    bob = await RawClient.connect(xmpp.port, answerPings=False)
    await bob.login("bob", "secret-bob", "r1")
    bob.name = "bob"
    await sendPresence(bob)
    gate.callback(None)
    read = [m.get("id") for m in await expectMessages(bob, batch)]
    probe = await bob.expect()
    assert probe.tag == q(NS_CLIENT, "iq") and probe.get("type") == "get", ET.tostring(probe)
    # One more, routed behind the delivery in the lane: it stays behind the held ones.
    send(alice, BOB, "late", "late message")
    assert await alice.roundTrip() == []
    bob.sendRaw(stop)
    # Its reflection says the server has taken the change (a priority
    # change waits on the roster first); only then the acknowledgement.
    while True:
        reflected = await bob.expect()
        assert reflected.tag == q(NS_CLIENT, "presence"), ET.tostring(reflected)
        if reflected.get("from") == bob.jid:
            break
    bob.sendRaw("<iq type='result' id='%s' to='%s'/>" % (probe.get("id"), probe.get("from")))
    bob.answerPings = True
    return read, bob


@BACKENDS
@pytest.mark.parametrize("stop", ["<presence type='unavailable'/>",
                                  "<presence><priority>-1</priority></presence>"],
                         ids=["unavailable", "negative-priority"])
@asyncioTest
async def test_a_resource_that_stops_half_way_gets_the_older_stored_messages_first(
        serve, backend, stop):
    """
    The live messages held behind the stored ones must not be written when
    the delivery stops half way: the stored ones not yet sent would then
    arrive after them. Every message exactly once, in arrival order.
    """
    batch = 5
    xmpp = await serve(backend, offline={"delivery_batch": batch, "delivery_window": 1})
    alice = await aliceLeaves(xmpp, 20)
    read, bob = await bobReadsFirstBatchThenStops(xmpp, alice, stop, batch)
    await wait(xmpp.accountWorkDone(BOB))
    read += [e.get("id") for e in await bob.roundTrip() if e.tag == q(NS_CLIENT, "message")]
    await sendPresence(bob)
    read += [e.get("id") for e in await readUntilDelivered(xmpp, bob)
             if e.tag == q(NS_CLIENT, "message")]
    expected = ["m%d" % n for n in range(20)] + ["live%d" % n for n in range(3)] + ["late"]
    assert sorted(set(expected) - set(read)) == [], "lost"
    assert sorted(m for m in set(read) if read.count(m) > 1) == [], "duplicated"
    assert read == expected
    await expectSilence(bob)
    assert await storedCount(xmpp, "bob") == 0


@BACKENDS
@asyncioTest
async def test_a_resumed_session_gets_the_older_stored_messages_before_the_held_ones(
        serve, backend):
    """
    XEP-0198: the connection dies half way through the delivery and the
    client resumes. The held live messages, and one routed while the
    session waited, come after the stored messages the delivery had not
    reached yet; every message exactly once.
    """
    from twisted.internet.defer import Deferred

    batch = 5
    xmpp = await serve(backend, offline={"delivery_batch": batch, "delivery_window": 1})
    alice = await aliceLeaves(xmpp, 20)
    gate = Deferred()
    xmpp.server.pipeline.run(BOB, lambda: gate)
    for n in range(3):
        send(alice, BOB, "live%d" % n, "live message %d" % n)
    assert await alice.roundTrip() == []
    phone = await RawClient.connect(xmpp.port)
    await phone.login("bob", "secret-bob", "r1")
    phone.name = "bob"
    enabled = await phone.enableSM(resume=True)
    assert enabled.get("resume") in ("true", "1"), ET.tostring(enabled)
    phone.autoAck = False
    await sendPresence(phone)
    gate.callback(None)
    read = [m.get("id") for m in await expectMessages(phone, batch)]
    unbound = Deferred()
    xmpp.host().events.hook("resource-unbound", lambda s: unbound.callback(s), 1000)
    phone.abort()
    send(alice, BOB, "late", "late message")
    assert await alice.roundTrip() == []
    again = await RawClient.connect(xmpp.port)
    await again.authenticated("bob", "secret-bob")
    resumed = await again.resumeSM(phone.sm)
    assert resumed.tag.endswith("}resumed"), ET.tostring(resumed)
    again.name, again.jid = "bob", phone.jid
    read += [e.get("id") for e in await readUntilDelivered(xmpp, again)
             if e.tag == q(NS_CLIENT, "message")]
    expected = ["m%d" % n for n in range(20)] + ["live%d" % n for n in range(3)] + ["late"]
    assert sorted(set(expected) - set(read)) == [], "lost"
    assert sorted(m for m in set(read) if read.count(m) > 1) == [], "duplicated"
    assert read == expected
    assert not unbound.called


@BACKENDS
@asyncioTest
async def test_at_most_one_batch_is_unacknowledged_and_it_goes_out_in_parts(serve, backend):
    """
    A batch of 10 in 2 parts: a client that acknowledges nothing is sent
    one batch and no more; each answer to a part's probe lets one more
    part go, so the client's round trip overlaps its reading.
    """
    xmpp = await serve(backend, offline={"delivery_batch": 10, "delivery_window": 2})
    await aliceLeaves(xmpp, 30)
    bob = await RawClient.connect(xmpp.port, answerPings=False)
    await bob.login("bob", "secret-bob", "r1")
    bob.name = "bob"
    await sendPresence(bob)

    async def part():
        ids = [m.get("id") for m in await expectMessages(bob, 5)]
        probe = await bob.expect()
        assert probe.tag == q(NS_CLIENT, "iq") and probe.get("type") == "get", \
            ET.tostring(probe)
        return ids, probe

    first, firstProbe = await part()
    second, secondProbe = await part()
    assert first + second == ["m%d" % n for n in range(10)]
    # Nothing more until an answer: the batch is all that may be unacknowledged.
    assert await bob.roundTrip() == []

    def answer(probe):
        bob.sendRaw("<iq type='result' id='%s' to='%s'/>" % (probe.get("id"), probe.get("from")))

    answer(firstProbe)
    third, thirdProbe = await part()
    assert third == ["m%d" % n for n in range(10, 15)]
    assert await bob.roundTrip() == []
    answer(secondProbe)
    answer(thirdProbe)
    bob.answerPings = True
    rest = [e.get("id") for e in await readUntilDelivered(xmpp, bob)
            if e.tag == q(NS_CLIENT, "message")]
    assert rest == ["m%d" % n for n in range(15, 30)]
    assert await storedCount(xmpp, "bob") == 0
