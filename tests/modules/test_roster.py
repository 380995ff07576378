"""
The roster IQ (RFC 6121 §2) and roster versioning (XEP-0237): what a
transcript cannot state. Get, set, pushes, the errors of §2.3.3, the
limits, versioning and the order of the roster result are transcripts
(``transcripts/roster_*.scs``).

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
async def xmpp(make_database, tmp_path, roster_config, backend_with_memory):
    """A running server on memory stores, SQLite and MariaDB, with users alice, bob, carol and dave."""
    from tests.harness import startServer

    database = await make_database(backend_with_memory)
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
    # "none" is said, not left to §2.1.2.5's default: slixmpp drops an item without it.
    return (jid, name, subscription, ask, tuple(groups))


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


# What a transcript cannot see: stream features and the server's events -------------


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
async def test_roster_get_fires_roster_requested_and_marks_the_session(xmpp):
    seen = []
    xmpp.host().events.hook("roster-requested", lambda session: seen.append(
        (session.jid.full(), session.rosterRequested)))
    alice = await login(xmpp, "alice")
    await rosterGet(alice)
    assert seen == [("alice@localhost/pc", True)]


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


# A login's roster get and initial presence share one read ---------------------------------

def countRosterReads(xmpp, monkeypatch):
    store = xmpp.host().storage.roster
    reads = []
    for name in ("getRoster", "initialPresenceView", "pendingRequests", "subscribedTo"):
        def counted(*args, _name=name, _method=getattr(store, name)):
            reads.append(_name)
            return _method(*args)
        monkeypatch.setattr(store, name, counted)
    return reads


@asyncioTest
async def test_a_login_reads_the_roster_once_for_its_roster_get_presence_and_logout(
        xmpp, monkeypatch):
    reads = countRosterReads(xmpp, monkeypatch)
    alice = await online(xmpp, "alice")
    assert reads == ["initialPresenceView"]
    alice.sendRaw("<presence type='unavailable'/>")
    await alice.roundTrip()
    await alice.close()
    assert reads == ["initialPresenceView"]


@asyncioTest
async def test_a_reconnecting_client_reads_no_roster_until_one_changes(xmpp, monkeypatch):
    reads = countRosterReads(xmpp, monkeypatch)
    alice = await online(xmpp, "alice")
    await alice.close()
    alice = await online(xmpp, "alice", "phone")
    assert reads == ["initialPresenceView"]
    # Another account's change drops every kept view: alice's holds which
    # local contacts agree to show her their presence.
    bob = await login(xmpp, "bob")
    await rosterSet(bob, "<item jid='carol@localhost' name='Carol'/>")
    await expectResult(bob)
    await alice.close()
    alice = await online(xmpp, "alice", "tablet")
    assert reads == ["initialPresenceView", "initialPresenceView"]
    await alice.close()
    # Her own change is in what her next login is sent.
    alice = await login(xmpp, "alice", "script")
    await rosterSet(alice, "<item jid='dave@localhost' name='Dave'/>")
    await expectResult(alice)
    await alice.close()
    alice = await login(xmpp, "alice", "laptop")
    query = await rosterGet(alice)
    assert items(query) == [("dave@localhost", "Dave", "none", None, ())]
    assert reads == ["initialPresenceView"] * 3
    await alice.close()
    await bob.close()


@asyncioTest
async def test_a_contact_added_during_the_session_hears_of_the_logout(xmpp):
    alice = await online(xmpp, "alice")
    bob = await online(xmpp, "bob")
    # The subscription handshake both ways, each step a roster change.
    for asker, answerer, askerJID, answererJID in (
            (alice, bob, "alice@localhost", "bob@localhost"),
            (bob, alice, "bob@localhost", "alice@localhost")):
        asker.sendRaw("<presence to='%s' type='subscribe'/>" % answererJID)
        while True:
            stanza = await answerer.expect()
            if stanza.get("type") == "subscribe":
                break
            if stanza.get("type") == "set":
                answerer.sendRaw("<iq type='result' id='%s'/>" % stanza.get("id"))
        answerer.sendRaw("<presence to='%s' type='subscribed'/>" % askerJID)
        await asker.roundTrip()
        await answerer.roundTrip()
    alice.sendRaw("<presence type='unavailable'/>")
    while True:
        stanza = await bob.expect()
        if stanza.get("type") == "set":
            bob.sendRaw("<iq type='result' id='%s'/>" % stanza.get("id"))
        elif stanza.tag == q(NS_CLIENT, "presence") and stanza.get("type") == "unavailable":
            assert stanza.get("from") == "alice@localhost/pc", ET.tostring(stanza)
            break
    await alice.close()
    await bob.close()


@asyncioTest
async def test_a_request_arriving_between_roster_get_and_initial_presence_is_in_it(xmpp):
    from tests.aio import wait
    alice = await login(xmpp, "alice")
    query = await rosterGet(alice)
    assert query is None or items(query) == []
    bob = await online(xmpp, "bob")
    bob.sendRaw("<presence to='alice@localhost' type='subscribe' id='sub1'/>")
    await bob.roundTrip()
    # Alice's roster lane has stored the request once the job queued after it ran.
    await wait(xmpp.server.rosterLanes.run("alice@localhost", lambda: None))
    alice.sendRaw("<presence/>")
    received = [await alice.expect(), await alice.expect()]
    kinds = sorted((p.get("from"), p.get("type")) for p in received)
    assert kinds == [("alice@localhost/pc", None), ("bob@localhost", "subscribe")], kinds
    await alice.close()
    await bob.close()
