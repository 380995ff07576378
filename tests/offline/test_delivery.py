"""
Delivery (SPEC §3): when stored messages reach a resource, to which one, in
what order, and never twice.
"""

import pytest

from tests.aio import asyncioTest, wait
from tests.conftest import WITH_MEMORY
from tests.offline.transcript import (
    assertOfflineCopy, body, connect, expectMessages, expectSilence, leave, online, send,
    sendPresence, settle, storedCount)
from tests.rawclient import NS_CLIENT, q

BOB = "bob@localhost"
ALICE = "alice@localhost/r1"
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
async def test_twenty_messages_arrive_in_the_order_sent_across_batches(serve, backend):
    xmpp = await serve(backend, offline={"delivery_batch": 7})
    await aliceLeaves(xmpp, 20)
    bob = await online(xmpp, "bob")
    received = await expectMessages(bob, 20)
    for n, message in enumerate(received):
        assertOfflineCopy(message, ALICE, "m%d" % n, "message %d" % n)
    await expectSilence(bob)
    assert await storedCount(xmpp, "bob") == 0


@BACKENDS
@asyncioTest
async def test_negative_priority_waits_and_lifting_it_to_zero_delivers(serve, backend):
    xmpp = await serve(backend)
    await aliceLeaves(xmpp, 2)
    bob = await online(xmpp, "bob", priority=-1)
    await expectSilence(bob)
    await sendPresence(bob, priority=0)
    received = await expectMessages(bob, 2)
    assert [m.get("id") for m in received] == ["m0", "m1"]
    # A later change within ≥ 0 is no new trigger.
    await sendPresence(bob, priority=5)
    await expectSilence(bob)
    assert await storedCount(xmpp, "bob") == 0


@BACKENDS
@asyncioTest
async def test_directed_presence_and_binding_do_not_deliver(serve, backend):
    xmpp = await serve(backend)
    await aliceLeaves(xmpp, 1)
    bob = await connect(xmpp, "bob")
    await expectSilence(bob)
    bob.sendRaw("<presence to='carol@localhost'/>")
    await expectSilence(bob)
    assert await storedCount(xmpp, "bob") == 1
    await sendPresence(bob)
    [message] = await expectMessages(bob, 1)
    assert message.get("id") == "m0"


@BACKENDS
@asyncioTest
async def test_second_login_gets_nothing_again(serve, backend):
    xmpp = await serve(backend)
    await aliceLeaves(xmpp, 3)
    first = await online(xmpp, "bob", "phone")
    assert len(await expectMessages(first, 3)) == 3
    await expectSilence(first)
    await leave(xmpp, first)
    second = await online(xmpp, "bob", "laptop")
    await expectSilence(second)
    # And a second resource online beside the first gets nothing either.
    third = await online(xmpp, "bob", "tablet")
    reflected = await second.expect()
    assert reflected.tag == q(NS_CLIENT, "presence") and reflected.get("from") == third.jid
    await expectSilence(third, second)


@BACKENDS
@asyncioTest
async def test_delivery_goes_to_the_resource_that_came_online(serve, backend):
    xmpp = await serve(backend)
    idle = await online(xmpp, "bob", "idle", priority=-5)
    await aliceLeaves(xmpp, 1)
    fresh = await online(xmpp, "bob", "fresh", priority=1)
    # The idle resource sees fresh's presence, not the message.
    presence = await idle.expect()
    assert presence.tag == q(NS_CLIENT, "presence")
    [message] = await expectMessages(fresh, 1)
    assert body(message) == "message 0"
    await expectSilence(idle, fresh)


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
    clock.advance(host.offline.clock.seconds() + 120)
    sweeper = xmpp.server.offlineSweeper
    sweeper.release()
    host.offline.clock = clock
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
    service = xmpp.host().offline
    assert await wait(xmpp.server.offlineSweeper.sweep(service.now() + 30 * 60 * 10**6)) == 0
    assert await storedCount(xmpp, "bob") == 2
    assert await wait(xmpp.server.offlineSweeper.sweep(service.now() + 2 * 3600 * 10**6)) == 2
    assert await storedCount(xmpp, "bob") == 0
