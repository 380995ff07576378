"""
Limits (SPEC §4) and the msgoffline IQ: what is kept up to a limit, what the
sender hears past it, and how users set their own.
"""

import xml.etree.ElementTree as ET

import pytest

from tests.aio import asyncioTest, wait
from tests.conftest import WITH_MEMORY
from tests.offline.transcript import (
    assertBounce, assertOfflineCopy, body, expectMessages, expectSilence, leave, online, send,
    settle, storedCount)
from tests.rawclient import NS_CLIENT, q, stanzaErrorCondition

BOB = "bob@localhost"
QUEUE_FULL = "Offline messages queue is full"
BACKENDS = pytest.mark.parametrize("backend", WITH_MEMORY)


async def setLimit(client, limit, to=None, id="lim"):
    attribute = "" if limit is None else " limit='%s'" % limit
    address = "" if to is None else " to='%s'" % to
    client.sendRaw("<iq type='set' id='%s'%s><msgoffline xmlns='msgoffline'%s/></iq>"
                   % (id, address, attribute))
    return await client.expect()


async def getLimit(client, to=None):
    address = "" if to is None else " to='%s'" % to
    client.sendRaw("<iq type='get' id='get'%s><msgoffline xmlns='msgoffline'/></iq>" % address)
    return await client.expect()


def limitOf(reply):
    assert reply.get("type") == "result", ET.tostring(reply)
    return reply.find(q("msgoffline", "msgoffline")).get("limit")


async def sendTen(xmpp, alice, tag):
    for n in range(10):
        send(alice, BOB, "%s-%d" % (tag, n), "%s message %d" % (tag, n))
    return await settle(xmpp, "bob", alice)


@BACKENDS
@asyncioTest
async def test_user_limits_3_5_0_3_false_with_ten_messages_each(serve, backend):
    xmpp = await serve(backend, offline={"user_limits": True})
    alice = await online(xmpp, "alice")
    for limit, kept in (("3", 3), ("5", 5), ("0", 0), ("3", 3), ("false", 10)):
        bob = await online(xmpp, "bob")
        assert limitOf(await setLimit(bob, limit)) == limit
        await leave(xmpp, bob)
        tag = "lim%s" % limit
        early = await sendTen(xmpp, alice, tag)
        bounces = early[0] + await expectMessages(alice, 10 - kept - len(early[0]))
        # Past the limit, each message comes back with its body and the XEP-0160 error.
        assert [b.get("id") for b in bounces] == ["%s-%d" % (tag, n) for n in range(kept, 10)]
        for n, bounce in zip(range(kept, 10), bounces):
            error = assertBounce(bounce, "%s-%d" % (tag, n), "service-unavailable", "cancel",
                                 text=QUEUE_FULL, code="503", sender=BOB,
                                 body="%s message %d" % (tag, n))
            assert [c.tag.split("}")[1] for c in error] == ["service-unavailable", "text"]
        await expectSilence(alice)
        bob = await online(xmpp, "bob", "again")
        received = await expectMessages(bob, kept)
        for n, message in enumerate(received):
            assertOfflineCopy(message, "alice@localhost/r1", "%s-%d" % (tag, n),
                              "%s message %d" % (tag, n))
        await expectSilence(bob)
        await leave(xmpp, bob)
        assert await storedCount(xmpp, "bob") == 0


@BACKENDS
@asyncioTest
async def test_two_senders_against_pair_limit_3_each_get_3_stored(serve, backend):
    xmpp = await serve(backend, offline={"pair_limit": 3})
    alice = await online(xmpp, "alice")
    carol = await online(xmpp, "carol")
    for n in range(5):
        send(alice, BOB, "a%d" % n, "from alice %d" % n)
        send(carol, BOB, "c%d" % n, "from carol %d" % n)
    early = await settle(xmpp, "bob", alice, carol)
    for client, prefix, got in ((alice, "a", early[0]), (carol, "c", early[1])):
        bounces = got + await expectMessages(client, 2 - len(got))
        assert [b.get("id") for b in bounces] == [prefix + "3", prefix + "4"]
        for bounce in bounces:
            assertBounce(bounce, bounce.get("id"), "service-unavailable", text=QUEUE_FULL,
                         code="503")
    await expectSilence(alice, carol)
    bob = await online(xmpp, "bob")
    received = await expectMessages(bob, 6)
    assert sorted(m.get("id") for m in received) == ["a0", "a1", "a2", "c0", "c1", "c2"]
    assert [m.get("id") for m in received if m.get("id")[0] == "a"] == ["a0", "a1", "a2"]
    await expectSilence(bob)


@BACKENDS
@asyncioTest
async def test_access_rule_caps_the_queue_across_senders(serve, backend):
    xmpp = await serve(backend, access={"max_user_offline_messages": [
        {"acl": "admin", "value": 100}, {"acl": "all", "value": 4}]})
    senders = [await online(xmpp, name) for name in ("alice", "carol", "dave", "erin")]
    # The first round fills the queue of 4; every message of the second bounces.
    for sender in senders:
        send(sender, BOB, sender.name + "0", "first")
    assert await settle(xmpp, "bob", *senders) == [[]] * 4
    for sender in senders:
        send(sender, BOB, sender.name + "1", "second")
    early = await settle(xmpp, "bob", *senders)
    for sender, got in zip(senders, early):
        [bounce] = got or await expectMessages(sender, 1)
        assertBounce(bounce, sender.name + "1", "service-unavailable", text=QUEUE_FULL)
    await expectSilence(*senders)
    assert await storedCount(xmpp, "bob") == 4


@BACKENDS
@asyncioTest
async def test_access_rule_infinity_is_unlimited_and_user_cap_applies_to_user_limits(
        serve, backend):
    xmpp = await serve(backend, offline={"user_limits": True},
                       access={"max_user_offline_messages": [{"acl": "all", "value": 2}]})
    bob = await online(xmpp, "bob")
    assert limitOf(await setLimit(bob, "false")) == "false"
    await leave(xmpp, bob)
    alice = await online(xmpp, "alice")
    for n in range(3):
        send(alice, BOB, "m%d" % n, "hi")
    early = await settle(xmpp, "bob", alice)
    [bounce] = early[0] or await expectMessages(alice, 1)
    assertBounce(bounce, "m2", "service-unavailable", text=QUEUE_FULL)
    assert await storedCount(xmpp, "bob") == 2


@BACKENDS
@asyncioTest
async def test_quota_exceeded_drop_is_silent(serve, backend):
    xmpp = await serve(backend, offline={"pair_limit": 1, "quota_exceeded": "drop"})
    alice = await online(xmpp, "alice")
    send(alice, BOB, "m0", "kept")
    send(alice, BOB, "m1", "dropped")
    assert await settle(xmpp, "bob", alice) == [[]]
    await expectSilence(alice)
    bob = await online(xmpp, "bob")
    [kept] = await expectMessages(bob, 1)
    assert body(kept) == "kept"
    await expectSilence(bob)


@BACKENDS
@asyncioTest
async def test_msgoffline_iq_table(serve, backend):
    xmpp = await serve(backend, offline={"user_limits": True, "pair_limit": 42})
    bob = await online(xmpp, "bob")
    assert limitOf(await getLimit(bob)) == "42"
    assert limitOf(await getLimit(bob, to=BOB)) == "42"
    reply = await setLimit(bob, "10", id="aabba")
    assert reply.get("id") == "aabba" and limitOf(reply) == "10"
    assert limitOf(await getLimit(bob)) == "10"
    settings = xmpp.storage.settings
    assert await wait(settings.get(BOB, "offline-msgs", "store-limit")) == "10"
    assert limitOf(await setLimit(bob, "0", to=BOB)) == "0"
    assert limitOf(await setLimit(bob, "false")) == "false"
    assert limitOf(await getLimit(bob)) == "false"
    for bad in (None, "-5", "+5", " 3", "3.0", "abc", "", "٣"):
        reply = await setLimit(bob, bad)
        assert stanzaErrorCondition(reply) == ("modify", "bad-request"), ET.tostring(reply)
        assert "limit" in reply.find(q(NS_CLIENT, "error")).findtext(
            q("urn:ietf:params:xml:ns:xmpp-stanzas", "text"))
    assert limitOf(await getLimit(bob)) == "false"
    # Someone else's account is refused before anything else is looked at.
    for request in (getLimit(bob, to="alice@localhost"),
                    setLimit(bob, "5", to="alice@localhost"),
                    setLimit(bob, "bogus", to="alice@localhost")):
        assert stanzaErrorCondition(await request) == ("auth", "forbidden")
    assert await wait(settings.get("alice@localhost", "offline-msgs", "store-limit")) is None


@BACKENDS
@asyncioTest
async def test_msgoffline_without_user_limits_reads_global_and_refuses_set(serve, backend):
    xmpp = await serve(backend, offline={"pair_limit": 7})
    bob = await online(xmpp, "bob")
    assert limitOf(await getLimit(bob)) == "7"
    reply = await setLimit(bob, "3")
    assert stanzaErrorCondition(reply) == ("cancel", "not-allowed")
    assert reply.find(q(NS_CLIENT, "error")).findtext(
        q("urn:ietf:params:xml:ns:xmpp-stanzas", "text"))
    assert await wait(xmpp.storage.settings.get(BOB, "offline-msgs", "store-limit")) is None


@BACKENDS
@asyncioTest
async def test_msgoffline_with_storage_disabled_is_not_implemented_and_not_advertised(
        serve, backend):
    xmpp = await serve(backend, offline={"enabled": False})
    bob = await online(xmpp, "bob")
    for request in (getLimit(bob), setLimit(bob, "3")):
        assert stanzaErrorCondition(await request) == ("cancel", "feature-not-implemented")
    assert "msgoffline" not in await discoFeatures(bob)


@asyncioTest
async def test_msgoffline_feature_advertised_while_storage_is_on(serve):
    xmpp = await serve("sqlite")
    bob = await online(xmpp, "bob")
    assert "msgoffline" in await discoFeatures(bob)


async def discoFeatures(client):
    client.sendRaw("<iq type='get' id='disco' to='localhost'>"
                   "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
    reply = await client.expect()
    assert reply.get("type") == "result", ET.tostring(reply)
    query = reply.find(q("http://jabber.org/protocol/disco#info", "query"))
    return [f.get("var") for f in query.findall(
        q("http://jabber.org/protocol/disco#info", "feature"))]
