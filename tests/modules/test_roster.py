"""
The roster IQ (RFC 6121 §2) and roster versioning (XEP-0237), as
conversations between real clients over TCP and TLS.

The fixtures and helpers here are shared with the presence and
subscription tests (``from tests.modules.test_roster import ...``).
"""

import xml.etree.ElementTree as ET

import pytest
import pytest_twisted

from tests.aio import asyncioTest
from tests.rawclient import NS_CLIENT, NS_STREAMS, RawClient, q, stanzaErrorCondition

NS_ROSTER = "jabber:iq:roster"
USERS = ("alice", "bob", "carol", "dave")


@pytest.fixture
def roster_config():
    """What a test's server gets under [modules.roster]; override to change limits."""
    return {}


@pytest_twisted.async_yield_fixture
async def xmpp(make_database, tmp_path, roster_config, memory_or_sqlite):
    """A running server on memory stores, then SQLite, with users alice, bob, carol and dave."""
    from tests.harness import startServer

    database = await make_database(memory_or_sqlite)
    config = {"modules": {"roster": roster_config}} if roster_config else None
    running = await startServer(database, tmp_path, config)
    for name in USERS:
        await running.addUser(name, "secret-" + name)
    yield running
    await running.stop()


async def login(xmpp, name, resource="pc"):
    client = await RawClient.connect(xmpp.port)
    await client.login(name, "secret-" + name, resource)
    return client


async def rosterGet(client, ver=None, iqId="get1"):
    """Request the roster; return the result's <query/> (None when empty)."""
    attr = "" if ver is None else " ver='%s'" % ver
    client.sendRaw("<iq type='get' id='%s'><query xmlns='%s'%s/></iq>" % (iqId, NS_ROSTER, attr))
    result = await client.expect()
    assert (result.tag, result.get("type"), result.get("id")) == (
        q(NS_CLIENT, "iq"), "result", iqId), ET.tostring(result)
    return result.find(q(NS_ROSTER, "query"))


async def online(xmpp, name, resource="pc"):
    """Log in, get the roster, send initial presence and read its reflection."""
    client = await login(xmpp, name, resource)
    await rosterGet(client)
    client.sendRaw("<presence/>")
    await expectPresence(client, "%s@localhost/%s" % (name, resource))
    return client


def items(query):
    """The items of a roster query or push as comparable tuples."""
    return [(i.get("jid"), i.get("name"), i.get("subscription"), i.get("ask"),
             tuple(g.text for g in i.findall(q(NS_ROSTER, "group"))))
            for i in query.findall(q(NS_ROSTER, "item"))]


def item(jid, name=None, subscription="none", ask=None, groups=()):
    # Wokkel leaves out subscription="none", which is its default (§2.1.2.5).
    return (jid, name, None if subscription == "none" else subscription, ask, tuple(groups))


async def expectPush(client, ver=None):
    """The next stanza is a roster push: acknowledge it, return its one item."""
    push = await client.expect()
    assert (push.tag, push.get("type")) == (q(NS_CLIENT, "iq"), "set"), ET.tostring(push)
    assert push.get("from") in (None, client.jid.split("/")[0]), ET.tostring(push)
    query = push.find(q(NS_ROSTER, "query"))
    assert query.get("ver") == ver, ET.tostring(push)
    client.sendRaw("<iq type='result' id='%s'/>" % push.get("id"))
    [pushed] = items(query)
    return pushed


async def expectPresence(client, sender, kind=None, to=None):
    presence = await client.expect()
    assert presence.tag == q(NS_CLIENT, "presence"), ET.tostring(presence)
    assert (presence.get("from"), presence.get("type")) == (sender, kind), ET.tostring(presence)
    if to is not None:
        assert presence.get("to") == to, ET.tostring(presence)
    return presence


async def rosterSet(client, itemXml, iqId="set1"):
    client.sendRaw("<iq type='set' id='%s'><query xmlns='%s'>%s</query></iq>"
                   % (iqId, NS_ROSTER, itemXml))


async def expectResult(client, iqId="set1"):
    result = await client.expect()
    assert (result.get("type"), result.get("id")) == ("result", iqId), ET.tostring(result)


async def expectError(client, condition, errorType, iqId="set1"):
    reply = await client.expect()
    assert (reply.get("type"), reply.get("id")) == ("error", iqId), ET.tostring(reply)
    assert stanzaErrorCondition(reply) == (errorType, condition)
    return reply


# Get ---------------------------------------------------------------------------


@asyncioTest
async def test_new_account_gets_an_empty_roster(xmpp):
    alice = await login(xmpp, "alice")
    query = await rosterGet(alice)
    assert items(query) == [] and query.get("ver") is None


@asyncioTest
async def test_roster_feature_versioning_and_pre_approval_are_advertised(xmpp):
    client = await RawClient.connect(xmpp.port)
    await client.open()
    await client.starttls()
    await client.authenticate("alice", "secret-alice")
    features = await client.open()
    assert features.find(q("urn:xmpp:features:rosterver", "ver")) is not None
    assert features.find(q("urn:xmpp:features:pre-approval", "sub")) is not None


@asyncioTest
async def test_roster_get_for_another_account_is_forbidden(xmpp):
    alice = await login(xmpp, "alice")
    alice.sendRaw("<iq type='get' id='g' to='bob@localhost'><query xmlns='%s'/></iq>" % NS_ROSTER)
    await expectError(alice, "forbidden", "auth", "g")


# Set: add, update, remove, pushed to every interested resource ---------------------


@asyncioTest
async def test_add_update_remove_are_pushed_to_every_interested_resource(xmpp):
    laptop = await login(xmpp, "alice", "laptop")
    await rosterGet(laptop)
    phone = await login(xmpp, "alice", "phone")
    await rosterGet(phone)
    # A resource that never asked for the roster is not interested (§2.1.6).
    tablet = await login(xmpp, "alice", "tablet")

    await rosterSet(laptop, "<item jid='bob@localhost' name='Bob'><group>Friends</group></item>")
    added = item("bob@localhost", "Bob", groups=["Friends"])
    assert await expectPush(laptop) == added
    await expectResult(laptop)
    assert await expectPush(phone) == added

    await rosterSet(phone, "<item jid='bob@localhost' name='Bobby'>"
                           "<group>Work</group><group>Friends</group></item>", "set2")
    updated = item("bob@localhost", "Bobby", groups=["Work", "Friends"])
    assert await expectPush(phone) == updated
    await expectResult(phone, "set2")
    assert await expectPush(laptop) == updated
    assert items(await rosterGet(laptop, iqId="get2")) == [updated]

    await rosterSet(laptop, "<item jid='bob@localhost' subscription='remove'/>", "set3")
    assert await expectPush(laptop) == ("bob@localhost", None, "remove", None, ())
    await expectResult(laptop, "set3")
    assert await expectPush(phone) == ("bob@localhost", None, "remove", None, ())
    assert items(await rosterGet(phone, iqId="get3")) == []
    assert await tablet.roundTrip() == []


@asyncioTest
async def test_roster_survives_a_new_session(xmpp):
    alice = await login(xmpp, "alice")
    await rosterGet(alice)
    await rosterSet(alice, "<item jid='carol@localhost' name='Carol'/>")
    await expectPush(alice)
    await expectResult(alice)
    await alice.close()
    again = await login(xmpp, "alice", "other")
    assert items(await rosterGet(again)) == [item("carol@localhost", "Carol")]


@asyncioTest
async def test_removing_an_unknown_item_is_item_not_found(xmpp):
    alice = await login(xmpp, "alice")
    await rosterGet(alice)
    await rosterSet(alice, "<item jid='nobody@localhost' subscription='remove'/>")
    await expectError(alice, "item-not-found", "cancel")
    assert await alice.roundTrip() == []


# Set: the error cases of §2.3.3 --------------------------------------------------


@pytest.mark.parametrize("payload", [
    "<item jid='bob@localhost'/><item jid='carol@localhost'/>",
    "<item jid='bob@localhost' subscription='both'/>",
    "<item jid='bob@localhost' subscription='none'/>",
    "<item jid='bob@@localhost'/>",
    "<item name='no jid'/>",
    "<item jid='bob@localhost'><group>A</group><group>A</group></item>",
    "",
], ids=["two-items", "subscription-both", "subscription-none", "invalid-jid", "no-jid",
        "duplicate-group", "no-item"])
@asyncioTest
async def test_malformed_roster_set_is_bad_request_and_changes_nothing(xmpp, payload):
    alice = await login(xmpp, "alice")
    await rosterGet(alice)
    await rosterSet(alice, payload)
    await expectError(alice, "bad-request", "modify")
    assert await alice.roundTrip() == []
    assert items(await rosterGet(alice, iqId="get2")) == []


@pytest.mark.parametrize("roster_config", [{"max_name_length": 5, "max_group_length": 5,
                                             "max_groups_per_item": 3}])
@pytest.mark.parametrize("payload", [
    "<item jid='bob@localhost' name='Robert'/>",
    "<item jid='bob@localhost'><group>Friends</group></item>",
    "<item jid='bob@localhost'><group></group></item>",
    "<item jid='bob@localhost'>%s</item>" % "".join("<group>g%d</group>" % i for i in range(4)),
], ids=["long-name", "long-group", "empty-group", "too-many-groups"])
@asyncioTest
async def test_name_or_group_over_the_limit_is_not_acceptable(xmpp, payload):
    alice = await login(xmpp, "alice")
    await rosterGet(alice)
    await rosterSet(alice, payload)
    await expectError(alice, "not-acceptable", "modify")
    await rosterSet(alice, "<item jid='bob@localhost' name='Bob'><group>Pals</group></item>",
                    "ok")
    await expectPush(alice)
    await expectResult(alice, "ok")


@pytest.mark.parametrize("roster_config", [{"max_roster_size": 2}])
@asyncioTest
async def test_roster_past_its_size_limit_is_not_allowed(xmpp):
    alice = await login(xmpp, "alice")
    await rosterGet(alice)
    for n, contact in enumerate(("bob", "carol")):
        await rosterSet(alice, "<item jid='%s@localhost'/>" % contact, "add%d" % n)
        await expectPush(alice)
        await expectResult(alice, "add%d" % n)
    await rosterSet(alice, "<item jid='dave@localhost'/>", "add2")
    await expectError(alice, "not-allowed", "cancel", "add2")
    # Updating an item already there adds nothing, so it is still allowed.
    await rosterSet(alice, "<item jid='bob@localhost' name='Bob'/>", "upd")
    assert await expectPush(alice) == item("bob@localhost", "Bob")
    await expectResult(alice, "upd")
    # So is a subscription request, which would add an item: refused too.
    alice.sendRaw("<presence to='dave@localhost' type='subscribe' id='s1'/>")
    refused = await alice.expect()
    assert (refused.get("type"), refused.get("id")) == ("error", "s1")
    assert stanzaErrorCondition(refused) == ("cancel", "not-allowed")
    assert [i[0] for i in items(await rosterGet(alice, iqId="get2"))] == [
        "bob@localhost", "carol@localhost"]


# Versioning (XEP-0237) ----------------------------------------------------------------


@asyncioTest
async def test_up_to_date_client_gets_an_empty_result_and_pushes_carry_the_version(xmpp):
    alice = await login(xmpp, "alice")
    query = await rosterGet(alice, ver="")
    assert query.get("ver") == "0" and items(query) == []
    await rosterSet(alice, "<item jid='bob@localhost'/>")
    assert await expectPush(alice, ver="1") == item("bob@localhost")
    await expectResult(alice)
    await alice.close()

    # The client cached version 1: nothing to send.
    cached = await login(xmpp, "alice", "again")
    assert await rosterGet(cached, ver="1") is None
    await rosterSet(cached, "<item jid='carol@localhost'/>")
    assert await expectPush(cached, ver="2") == item("carol@localhost")
    await expectResult(cached)

    # A client with an older version gets the whole roster and the new version.
    stale = await login(xmpp, "alice", "stale")
    query = await rosterGet(stale, ver="1")
    assert query.get("ver") == "2"
    assert items(query) == [item("bob@localhost"), item("carol@localhost")]


@asyncioTest
async def test_roster_get_fires_roster_requested_and_marks_the_session(xmpp):
    seen = []
    xmpp.host().events.hook("roster-requested", lambda session: seen.append(
        (session.jid.full(), session.rosterRequested)))
    alice = await login(xmpp, "alice")
    await rosterGet(alice)
    assert seen == [("alice@localhost/pc", True)]


@asyncioTest
async def test_roster_result_comes_before_presence_even_when_pipelined(xmpp):
    bob = await online(xmpp, "bob")
    alice = await online(xmpp, "alice")
    await subscribeBothWays(alice, bob)
    await alice.close()
    await expectPresence(bob, "alice@localhost/pc", "unavailable")

    # Roster get and initial presence in one write: the roster result
    # still comes first, then the reflection, then bob's presence.
    again = await login(xmpp, "alice", "pc")
    again.sendRaw("<iq type='get' id='r'><query xmlns='%s'/></iq><presence/>" % NS_ROSTER)
    result = await again.expect()
    assert (result.get("id"), result.get("type")) == ("r", "result")
    await expectPresence(again, "alice@localhost/pc", to="alice@localhost/pc")
    await expectPresence(again, "bob@localhost/pc", to="alice@localhost/pc")
    assert await again.roundTrip() == []
    await expectPresence(bob, "alice@localhost/pc")


async def subscribeBothWays(alice, bob):
    """alice ⇄ bob, both online and interested: the whole §3.1 handshake twice."""
    a, b = alice.jid.split("/")[0], bob.jid.split("/")[0]
    for user, contact, userBare, contactBare in ((alice, bob, a, b), (bob, alice, b, a)):
        user.sendRaw("<presence to='%s' type='subscribe'/>" % contactBare)
        await expectPush(user, None)
        await expectPresence(contact, userBare, "subscribe")
        contact.sendRaw("<presence to='%s' type='subscribed'/>" % userBare)
        await expectPush(contact)
        await expectPush(user)
        await expectPresence(user, contactBare, "subscribed")
        await expectPresence(user, contact.jid)
    assert await alice.roundTrip() == [] and await bob.roundTrip() == []


def assertStreamOpen(client):
    assert not client.streamEnded and client.header.tag == q(NS_STREAMS, "stream")
