"""
Who is offline (SPEC §1): each row of the routing table, with what the
sender and every resource of the recipient see.
"""

import pytest

from tests.aio import asyncioTest
from tests.conftest import WITH_MEMORY
from tests.offline.transcript import (
    assertBounce, assertDroppedSilently, body, connect, expectMessages, expectSilence,
    online, send, settle, storedCount)
from tests.rawclient import NS_CLIENT, q

BOB = "bob@localhost"
BACKENDS = pytest.mark.parametrize("backend", WITH_MEMORY)
ERROR = ("<error type='cancel'><item-not-found"
         " xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>")


async def bobWithFourResources(xmpp):
    """top1 and top2 at 5, low at 1, away at -1 (each sees the later presences)."""
    clients = []
    for resource, priority in (("top1", 5), ("top2", 5), ("low", 1), ("away", -1)):
        client = await online(xmpp, "bob", resource, priority)
        for earlier in clients:
            reflected = await earlier.expect()
            assert reflected.tag == q(NS_CLIENT, "presence")
        clients.append(client)
    return clients


@BACKENDS
@pytest.mark.parametrize("kind", ["chat", "normal"])
@asyncioTest
async def test_bare_jid_chat_and_normal_go_to_the_highest_priority(serve, backend, kind):
    xmpp = await serve(backend)
    top1, top2, low, away = await bobWithFourResources(xmpp)
    alice = await online(xmpp, "alice")
    send(alice, BOB, "m1", "to the top", type=kind)
    for client in (top1, top2):
        [message] = await expectMessages(client, 1)
        assert body(message) == "to the top"
    await expectSilence(low, away, alice)
    assert await storedCount(xmpp, "bob") == 0


@BACKENDS
@asyncioTest
async def test_bare_jid_headline_goes_to_every_non_negative_resource(serve, backend):
    xmpp = await serve(backend)
    top1, top2, low, away = await bobWithFourResources(xmpp)
    alice = await online(xmpp, "alice")
    send(alice, BOB, "h1", "news", type="headline")
    for client in (top1, top2, low):
        [message] = await expectMessages(client, 1)
        assert body(message) == "news"
    await expectSilence(away, alice)


@BACKENDS
@asyncioTest
async def test_bare_jid_groupchat_is_service_unavailable(serve, backend):
    xmpp = await serve(backend)
    top1, top2, low, away = await bobWithFourResources(xmpp)
    alice = await online(xmpp, "alice")
    send(alice, BOB, "g1", "room", type="groupchat")
    assertBounce(await alice.expect(), "g1", "service-unavailable", "cancel", body="room")
    await expectSilence(top1, top2, low, away)


@BACKENDS
@asyncioTest
async def test_full_jid_of_a_connected_resource_whatever_its_priority(serve, backend):
    xmpp = await serve(backend)
    away = await online(xmpp, "bob", "away", priority=-1)
    silent = await connect(xmpp, "bob", "silent")
    alice = await online(xmpp, "alice")
    for kind in ("chat", "normal", "headline", "groupchat"):
        send(alice, away.jid, "a-" + kind, "to away", type=kind)
        send(alice, silent.jid, "s-" + kind, "to silent", type=kind)
    assert [m.get("id") for m in await expectMessages(away, 4)] == [
        "a-chat", "a-normal", "a-headline", "a-groupchat"]
    assert [m.get("id") for m in await expectMessages(silent, 4)] == [
        "s-chat", "s-normal", "s-headline", "s-groupchat"]
    await expectSilence(alice, away, silent)
    assert await storedCount(xmpp, "bob") == 0


@BACKENDS
@asyncioTest
async def test_full_jid_gone_chat_is_handled_as_bare_and_stored(serve, backend):
    xmpp = await serve(backend)
    alice = await online(xmpp, "alice")
    send(alice, BOB + "/gone", "c1", "to a gone resource")
    assert await settle(xmpp, "bob", alice) == [[]]
    await expectSilence(alice)
    bob = await online(xmpp, "bob", "new")
    [message] = await expectMessages(bob, 1)
    assert message.get("to") == BOB + "/gone" and body(message) == "to a gone resource"


@BACKENDS
@pytest.mark.parametrize("kind", ["normal", "headline", "groupchat"])
@asyncioTest
async def test_full_jid_gone_other_types_are_service_unavailable(serve, backend, kind):
    xmpp = await serve(backend, offline={"store_groupchat_messages": True})
    alice = await online(xmpp, "alice")
    send(alice, BOB + "/gone", "x1", "nobody here", type=kind)
    assertBounce(await alice.expect(), "x1", "service-unavailable", "cancel",
                 sender=BOB + "/gone", body="nobody here")
    await settle(xmpp, "bob", alice)
    assert await storedCount(xmpp, "bob") == 0


@BACKENDS
@asyncioTest
async def test_error_messages_reach_an_exact_full_jid_else_vanish_silently(serve, backend):
    xmpp = await serve(backend)
    bob = await connect(xmpp, "bob", "here")
    alice = await online(xmpp, "alice")
    send(alice, bob.jid, "e1", type="error", payload=ERROR)
    [error] = await expectMessages(bob, 1)
    assert error.get("type") == "error" and error.get("id") == "e1"
    send(alice, BOB + "/gone", "e2", type="error", payload=ERROR)
    send(alice, BOB, "e3", type="error", payload=ERROR)
    await assertDroppedSilently(xmpp, alice, "bob")
    await expectSilence(bob)


@BACKENDS
@asyncioTest
async def test_unknown_account_is_service_unavailable_and_nothing_stored(serve, backend):
    xmpp = await serve(backend)
    alice = await online(xmpp, "alice")
    send(alice, "nobody@localhost", "n1", "hello?")
    assertBounce(await alice.expect(), "n1", "service-unavailable", "cancel",
                 sender="nobody@localhost", body="hello?")
    await settle(xmpp, "nobody", alice)
    assert await storedCount(xmpp, "nobody") == 0


@BACKENDS
@pytest.mark.parametrize("kind", ["headline", "normal", "chat"])
@asyncioTest
async def test_unknown_account_is_service_unavailable_whatever_storage_would_do(
        serve, backend, kind):
    # A headline is never stored, a bare chat state neither: no insert
    # checks the account, yet the sender hears of it as for a stored kind.
    xmpp = await serve(backend)
    alice = await online(xmpp, "alice")
    alice.sendRaw("<message to='nobody@localhost' id='h1' type='%s'>"
                  "<active xmlns='http://jabber.org/protocol/chatstates'/></message>" % kind)
    reply = await alice.expect()
    assert reply.get("type") == "error" and reply.get("id") == "h1"
    assert reply.find(q(NS_CLIENT, "error")).get("type") == "cancel"
    await settle(xmpp, "nobody", alice)
    assert await storedCount(xmpp, "nobody") == 0


@BACKENDS
@asyncioTest
async def test_a_burst_to_an_unknown_account_bounces_every_message_in_order(serve, backend):
    xmpp = await serve(backend)
    alice = await online(xmpp, "alice")
    for n in range(30):
        send(alice, "nobody@localhost", "n%d" % n, "hello %d" % n)
    for n in range(30):
        assertBounce(await alice.expect(), "n%d" % n, "service-unavailable", "cancel",
                     sender="nobody@localhost", body="hello %d" % n)
    await settle(xmpp, "nobody", alice)
    assert await storedCount(xmpp, "nobody") == 0
