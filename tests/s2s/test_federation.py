"""
Two xmppd processes, a.test and b.test, federating over real s2s streams
on 127.0.0.1: certificates from a test CA, STARTTLS, SASL EXTERNAL.
"""

import pytest

from tests.aio import asyncioTest
from tests.conftest import BACKENDS
from tests.modules.test_amp import NS_AMP, ampMessage, rule
from tests.modules.test_roster import expectPresence, expectPush, item, rosterGet
from tests.offline.transcript import (assertBounce, assertOfflineCopy, body, expectMessages,
                                      send, sendPresence)
from tests.rawclient import NS_CLIENT, q


@asyncioTest
async def test_chat_both_ways_between_a_and_b(federate):
    a, b = await federate()
    alice = await a.login("alice")
    bob = await b.login("bob")
    await sendPresence(alice)
    await sendPresence(bob)

    send(alice, "bob@b.test/r1", "m1", "hello from a")
    [received] = await expectMessages(bob, 1)
    assert received.get("from") == "alice@a.test/r1"
    assert received.get("to") == "bob@b.test/r1"
    assert body(received) == "hello from a"

    send(bob, "alice@a.test/r1", "m2", "hello from b")
    [received] = await expectMessages(alice, 1)
    assert received.get("from") == "bob@b.test/r1"
    assert body(received) == "hello from b"
    assert await alice.roundTrip() == []
    assert await bob.roundTrip() == []
    assert a.logged(r"stream from a\.test to b\.test authenticated by certificate")
    assert b.logged(r"stream from b\.test to a\.test authenticated by certificate")


async def online(server, name, resource="r1"):
    """Logged in, roster requested, initial presence sent and reflected."""
    client = await server.login(name, resource)
    await rosterGet(client)
    client.sendRaw("<presence/>")
    await expectPresence(client, "%s/%s" % (client.name, resource))
    return client


@pytest.mark.parametrize("backend", BACKENDS)
@asyncioTest
async def test_offline_message_from_a_is_delivered_at_login_on_b_with_its_delay(
        federate, backend):
    a, b = await federate(backend)
    alice = await online(a, "alice")
    send(alice, "bob@b.test", "off1", "while you were out")
    # The second asks b to tell alice once it is stored (XEP-0079 notify):
    # b's AMP reply crossing back over s2s is the proof both were stored.
    notify = rule("notify", "deliver", "stored")
    alice.sendRaw(ampMessage("bob@b.test", [notify], id="off2", body="and again"))
    [reply] = await expectMessages(alice, 1)
    assert (reply.get("from"), reply.get("id"), reply.get("type")) == ("b.test", "off2", None)
    amp = reply.find(q(NS_AMP, "amp"))
    assert (amp.get("status"), amp.get("from"), amp.get("to")) == (
        "notify", "alice@a.test/r1", "bob@b.test")
    assert [dict(r.attrib) for r in amp] == [notify]
    assert await alice.roundTrip() == []

    bob = await online(b, "bob")
    first, second = await expectMessages(bob, 2)
    assertOfflineCopy(first, "alice@a.test/r1", "off1", "while you were out", host="b.test")
    assertOfflineCopy(second, "alice@a.test/r1", "off2", "and again", host="b.test")
    assert second.find(q(NS_AMP, "amp")) is not None
    assert await bob.roundTrip() == []


@asyncioTest
async def test_bounce_from_b_reaches_the_sender_on_a(federate):
    a, b = await federate()
    alice = await online(a, "alice")
    send(alice, "nobody@b.test", "lost1", "anyone there?")
    [bounce] = await expectMessages(alice, 1)
    assertBounce(bounce, "lost1", "service-unavailable", sender="nobody@b.test",
                 body="anyone there?")
    assert await alice.roundTrip() == []


@pytest.mark.parametrize("backend", BACKENDS)
@asyncioTest
async def test_presence_subscription_across_domains(federate, backend):
    a, b = await federate(backend)
    alice = await online(a, "alice")
    bob = await online(b, "bob")

    alice.sendRaw("<presence to='bob@b.test' type='subscribe'/>")
    assert await expectPush(alice) == item("bob@b.test", ask="subscribe")
    await expectPresence(bob, "alice@a.test", "subscribe", to="bob@b.test")

    bob.sendRaw("<presence to='alice@a.test' type='subscribed'/>")
    assert await expectPush(bob) == item("alice@a.test", subscription="from")
    assert await expectPush(alice) == item("bob@b.test", subscription="to")
    await expectPresence(alice, "bob@b.test", "subscribed")
    await expectPresence(alice, "bob@b.test/r1", to="alice@a.test")

    # From now on alice sees bob's presence updates, across the s2s stream.
    bob.sendRaw("<presence><show>away</show></presence>")
    await expectPresence(bob, "bob@b.test/r1")
    update = await expectPresence(alice, "bob@b.test/r1", to="alice@a.test")
    assert update.findtext(q(NS_CLIENT, "show")) == "away"
    assert await alice.roundTrip() == [] and await bob.roundTrip() == []


@pytest.mark.parametrize("backend", BACKENDS)
@asyncioTest
async def test_subscription_request_from_a_to_an_offline_user_on_b_waits_for_login(
        federate, backend):
    a, b = await federate(backend)
    alice = await online(a, "alice")
    alice.sendRaw("<presence to='bob@b.test' type='subscribe'><status>it is alice</status>"
                  "</presence>")
    assert await expectPush(alice) == item("bob@b.test", ask="subscribe")
    assert await b.pendingSubscriptions("bob@b.test", ["alice@a.test"]) == ["alice@a.test"]

    bob = await online(b, "bob")
    request = await expectPresence(bob, "alice@a.test", "subscribe", to="bob@b.test")
    assert request.findtext(q(NS_CLIENT, "status")) == "it is alice"
    bob.sendRaw("<presence to='alice@a.test' type='subscribed'/>")
    assert await expectPush(bob) == item("alice@a.test", subscription="from")
    assert await expectPush(alice) == item("bob@b.test", subscription="to")
    await expectPresence(alice, "bob@b.test", "subscribed")
    await expectPresence(alice, "bob@b.test/r1", to="alice@a.test")
