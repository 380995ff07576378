"""
Blocking (XEP-0191) transcripts: alice blocks carol. carol's messages reach
alice neither live nor through offline storage, and carol hears
service-unavailable as if alice did not exist; alice's own messages to
carol are refused; presence stops both ways; every resource of alice that
asked for the list hears of each change.
"""

import xml.etree.ElementTree as ET

import pytest

from tests.aio import asyncioTest, wait
from tests.offline.transcript import (
    assertBounce, body, connect, online, send, settle, storedCount)
from tests.rawclient import NS_CLIENT, q, stanzaErrorCondition

NS_BLOCKING = "urn:xmpp:blocking"


async def iq(client, id, payload, type="set"):
    client.sendRaw("<iq type='%s' id='%s'>%s</iq>" % (type, id, payload))
    while True:
        reply = await client.expect()
        if reply.tag == q(NS_CLIENT, "iq") and reply.get("id") == id:
            return reply


async def block(client, *jids):
    items = "".join("<item jid='%s'/>" % j for j in jids)
    reply = await iq(client, "b1", "<block xmlns='%s'>%s</block>" % (NS_BLOCKING, items))
    assert reply.get("type") == "result", ET.tostring(reply)


async def expectUnavailableFrom(client, sender):
    """§3.3: the blocked contact sees the blocker go unavailable."""
    notice = await client.expect()
    assert notice.tag == q(NS_CLIENT, "presence"), ET.tostring(notice)
    assert (notice.get("from"), notice.get("type")) == (sender, "unavailable")


@pytest.mark.parametrize("backend", ["sqlite", "mysql"])
@asyncioTest
async def test_blocked_sender_is_neither_delivered_nor_stored_and_hears_service_unavailable(
        serve, backend):
    xmpp = await serve(backend)
    alice = await online(xmpp, "alice")
    carol = await online(xmpp, "carol")
    await block(alice, "carol@localhost")
    await expectUnavailableFrom(carol, alice.jid)
    send(carol, "alice@localhost", "c1", "let me in")
    assertBounce(await carol.expect(), "c1", "service-unavailable", "cancel",
                 sender="alice@localhost", body="let me in")
    assert await alice.roundTrip() == []
    await alice.close()
    send(carol, "alice@localhost", "c2", "while you are away")
    assertBounce(await carol.expect(), "c2", "service-unavailable", "cancel",
                 sender="alice@localhost", body="while you are away")
    assert await settle(xmpp, "alice", carol) == [[]]
    assert await storedCount(xmpp, "alice") == 0
    # The list is kept: it is still there for alice's next login.
    assert await wait(xmpp.storage.blocklist.all()) == {"alice@localhost": {"carol@localhost"}}


@asyncioTest
async def test_blocker_cannot_write_to_the_blocked_and_unblock_restores_both_ways(serve):
    xmpp = await serve("sqlite")
    alice = await online(xmpp, "alice")
    carol = await online(xmpp, "carol")
    await block(alice, "carol@localhost")
    await expectUnavailableFrom(carol, alice.jid)
    send(alice, "carol@localhost", "a1", "hi")
    refused = await alice.expect()
    assert stanzaErrorCondition(refused) == ("cancel", "not-acceptable")
    assert refused.find(q(NS_CLIENT, "error")).find(
        "{urn:xmpp:blocking:errors}blocked") is not None
    assert await carol.roundTrip() == []
    reply = await iq(alice, "u1", "<unblock xmlns='%s'><item jid='carol@localhost'/></unblock>"
                     % NS_BLOCKING)
    assert reply.get("type") == "result"
    send(carol, "alice@localhost", "c1", "friends again")
    assert body(await alice.expect()) == "friends again"


@asyncioTest
async def test_list_is_returned_and_changes_are_pushed_to_resources_that_asked(serve):
    xmpp = await serve("sqlite")
    phone = await online(xmpp, "alice", "phone")
    laptop = await connect(xmpp, "alice", "laptop")
    empty = await iq(laptop, "g1", "<blocklist xmlns='%s'/>" % NS_BLOCKING, type="get")
    assert list(empty.find(q(NS_BLOCKING, "blocklist"))) == []
    await block(phone, "carol@localhost", "spam.example")
    push = await laptop.expect()
    assert push.get("type") == "set", ET.tostring(push)
    items = [i.get("jid") for i in push.find(q(NS_BLOCKING, "block"))]
    assert sorted(items) == ["carol@localhost", "spam.example"]
    laptop.sendRaw("<iq type='result' id='%s'/>" % push.get("id"))
    listed = await iq(phone, "g2", "<blocklist xmlns='%s'/>" % NS_BLOCKING, type="get")
    assert sorted(i.get("jid") for i in listed.find(q(NS_BLOCKING, "blocklist"))) == [
        "carol@localhost", "spam.example"]


@asyncioTest
async def test_presence_from_a_blocked_contact_is_dropped(serve):
    xmpp = await serve("sqlite")
    alice = await online(xmpp, "alice")
    carol = await online(xmpp, "carol")
    await block(alice, "carol@localhost")
    await expectUnavailableFrom(carol, alice.jid)
    carol.sendRaw("<presence to='alice@localhost'/>")
    assert await carol.roundTrip() == []
    assert await alice.roundTrip() == []


@asyncioTest
async def test_a_deleted_account_takes_its_blocklist_and_a_new_one_of_its_name_starts_empty(
        serve):
    xmpp = await serve("sqlite")
    alice = await online(xmpp, "alice")
    carol = await online(xmpp, "carol")
    await block(alice, "carol@localhost")
    await expectUnavailableFrom(carol, alice.jid)
    await alice.close()
    deleted = []
    xmpp.host().events.hook("account-deleted", deleted.append)

    await wait(xmpp.server.accounts.delete("alice@localhost"))
    assert deleted == ["alice@localhost"]
    assert await wait(xmpp.storage.blocklist.all()) == {}

    await wait(xmpp.addUser("alice", "secret-alice"))
    alice = await online(xmpp, "alice")
    reply = await iq(alice, "g1", "<blocklist xmlns='%s'/>" % NS_BLOCKING, type="get")
    assert reply.find(q(NS_BLOCKING, "blocklist")).findall(q(NS_BLOCKING, "item")) == []
    send(carol, "alice@localhost", "c1", "hello again")
    assert body(await alice.expect()) == "hello again"


@asyncioTest
async def test_a_blocklist_stored_before_the_start_is_enforced_from_the_first_message(
        make_database, tmp_path):
    from tests.harness import startServer
    from xmppd.modules.blocking import BlockingHandler
    database = await wait(make_database("sqlite"))
    first = await wait(startServer(database, tmp_path / "first"))
    for name in ("alice", "bob", "carol"):
        await wait(first.addUser(name, "secret-" + name))
    await wait(first.storage.blocklist.add("alice@localhost", ["carol@localhost"]))
    await wait(first.stop())
    xmpp = await wait(startServer(database, tmp_path / "second"))
    try:
        (blocking,) = [h for h in xmpp.host() if isinstance(h, BlockingHandler)]
        await wait(blocking.ready)
        alice = await online(xmpp, "alice")
        carol = await online(xmpp, "carol")
        send(carol, "alice@localhost", "c1", "let me in")
        assertBounce(await carol.expect(), "c1", "service-unavailable", "cancel",
                     sender="alice@localhost", body="let me in")
        bob = await online(xmpp, "bob")
        send(bob, "alice@localhost", "b1", "not blocked")
        assert body(await alice.expect()) == "not blocked"
        # Unblocked, the list is gone, and so are the checks: carol gets through.
        reply = await iq(alice, "u1", "<unblock xmlns='%s'/>" % NS_BLOCKING)
        assert reply.get("type") == "result"
        send(carol, "alice@localhost", "c2", "friends again")
        assert body(await alice.expect()) == "friends again"
    finally:
        await wait(xmpp.stop())
