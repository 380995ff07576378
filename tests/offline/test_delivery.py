"""
Delivery (SPEC §3): the cases a transcript cannot state -- a live message
racing the pop, and expiry on an injected clock. The trigger, the target,
the order across batches and "never twice" are transcripts
(``transcripts/*.scs``).
"""

import pytest

from xmppd.api import IOfflineService

from tests.aio import asyncioTest, wait
from tests.conftest import WITH_MEMORY
from tests.offline.transcript import (
    connect, expectMessages, expectSilence, leave, online, send, settle, storedCount)
from tests.rawclient import NS_CLIENT, q

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
