"""
Private XML storage (XEP-0049) and vcard-temp (XEP-0054) as transcripts, on
SQLite and MariaDB: what one client stores, another resource or a later
login reads back.
"""

import base64
import hashlib
import xml.etree.ElementTree as ET

import pytest_twisted

from tests.aio import asyncioTest, wait
from tests.modules.test_on_behalf import ask, loggedIn
from tests.rawclient import NS_CLIENT, q, stanzaErrorCondition

NS_PRIVATE = "jabber:iq:private"
NS_BOOKMARKS = "storage:bookmarks"
NS_VCARD = "vcard-temp"
BOOKMARKS = ("<storage xmlns='storage:bookmarks'><conference jid='room@muc.example.org'"
             " autojoin='true' name='The Room'><nick>alice</nick></conference></storage>")


@pytest_twisted.async_yield_fixture
async def served(backend, make_database, tmp_path):
    """A server on ``backend`` with alice, bob and carol (private limits made small)."""
    from tests.harness import startServer
    database = await make_database(backend)
    running = await startServer(database, tmp_path, {"modules": {
        "private": {"max_element_size": 2048, "max_namespaces": 3},
        "vcard": {"max_size": 4096}}})
    for name in ("alice", "bob", "carol"):
        await running.addUser(name, "secret-" + name)
    yield running
    await running.stop()


async def setIQ(client, payload, to=None, id="s1"):
    address = "" if to is None else " to='%s'" % to
    client.sendRaw("<iq type='set' id='%s'%s>%s</iq>" % (id, address, payload))
    reply = await client.expect()
    assert reply.tag == q(NS_CLIENT, "iq") and reply.get("id") == id, ET.tostring(reply)
    return reply


@asyncioTest
async def test_legacy_bookmarks_set_by_one_resource_are_read_by_the_next_login(served):
    laptop = await loggedIn(served, "alice", "laptop")
    empty = await ask(laptop, None, "<query xmlns='jabber:iq:private'>"
                      "<storage xmlns='storage:bookmarks'/></query>", "g0")
    assert empty.get("type") == "result"
    [element] = list(empty.find(q(NS_PRIVATE, "query")))
    assert element.tag == q(NS_BOOKMARKS, "storage") and list(element) == []

    reply = await setIQ(laptop, "<query xmlns='jabber:iq:private'>%s</query>" % BOOKMARKS)
    assert reply.get("type") == "result"
    await laptop.close()

    phone = await loggedIn(served, "alice", "phone")
    reply = await ask(phone, "alice@localhost", "<query xmlns='jabber:iq:private'>"
                      "<storage xmlns='storage:bookmarks'/></query>", "g1")
    conference = reply.find(q(NS_PRIVATE, "query")).find(q(NS_BOOKMARKS, "storage")).find(
        q(NS_BOOKMARKS, "conference"))
    assert conference.attrib == {"jid": "room@muc.example.org", "autojoin": "true",
                                 "name": "The Room"}
    assert conference.findtext(q(NS_BOOKMARKS, "nick")) == "alice"
    await phone.close()


@asyncioTest
async def test_private_xml_of_another_account_is_forbidden(served):
    bob = await loggedIn(served, "bob")
    payload = "<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query>"
    assert stanzaErrorCondition(await ask(bob, "alice@localhost", payload)) == (
        "auth", "forbidden")
    reply = await setIQ(bob, payload, to="alice@localhost")
    assert stanzaErrorCondition(reply) == ("auth", "forbidden")
    await bob.close()


@asyncioTest
async def test_private_xml_refuses_bad_requests_and_bounds_sizes(served):
    alice = await loggedIn(served, "alice")
    cases = [
        ("<query xmlns='jabber:iq:private'/>", ("modify", "bad-request")),
        ("<query xmlns='jabber:iq:private'><a xmlns='x:1'/><b xmlns='x:2'/></query>",
         ("modify", "bad-request")),
        ("<query xmlns='jabber:iq:private'><query xmlns='jabber:iq:roster'/></query>",
         ("modify", "not-acceptable")),
        ("<query xmlns='jabber:iq:private'><big xmlns='x:big'>%s</big></query>" % ("x" * 3000),
         ("modify", "not-acceptable")),
    ]
    for number, (payload, condition) in enumerate(cases):
        reply = await setIQ(alice, payload, id="bad%d" % number)
        assert stanzaErrorCondition(reply) == condition, payload
    for number in range(3):
        reply = await setIQ(alice, "<query xmlns='jabber:iq:private'><x xmlns='ns:%d'/></query>"
                            % number, id="fill%d" % number)
        assert reply.get("type") == "result"
    reply = await setIQ(alice, "<query xmlns='jabber:iq:private'><x xmlns='ns:9'/></query>",
                        id="over")
    assert stanzaErrorCondition(reply) == ("wait", "resource-constraint")
    reply = await setIQ(alice, "<query xmlns='jabber:iq:private'><y xmlns='ns:1'/></query>",
                        id="replace")
    assert reply.get("type") == "result"
    await alice.close()


def vcardWithPhoto(name, photo):
    return ("<vCard xmlns='vcard-temp'><FN>%s</FN><PHOTO><TYPE>image/png</TYPE>"
            "<BINVAL>%s</BINVAL></PHOTO></vCard>" % (name, base64.b64encode(photo).decode()))


@asyncioTest
async def test_vcard_set_by_its_owner_is_read_by_anyone_at_the_bare_jid(served):
    alice = await loggedIn(served, "alice")
    bob = await loggedIn(served, "bob")
    reply = await ask(bob, "alice@localhost", "<vCard xmlns='vcard-temp'/>", "before")
    assert reply.get("type") == "result" and list(reply.find(q(NS_VCARD, "vCard"))) == []

    photo = b"\x89PNG not really a picture"
    assert (await setIQ(alice, vcardWithPhoto("Alice", photo))).get("type") == "result"
    reply = await ask(bob, "alice@localhost", "<vCard xmlns='vcard-temp'/>", "after")
    assert reply.get("from") == "alice@localhost"
    vcard = reply.find(q(NS_VCARD, "vCard"))
    assert vcard.findtext(q(NS_VCARD, "FN")) == "Alice"
    assert base64.b64decode(vcard.find(q(NS_VCARD, "PHOTO")).findtext(
        q(NS_VCARD, "BINVAL"))) == photo
    own = await ask(alice, None, "<vCard xmlns='vcard-temp'/>", "own")
    assert own.find(q(NS_VCARD, "vCard")).findtext(q(NS_VCARD, "FN")) == "Alice"
    _, photoHash = await wait(served.storage.vcards.get("alice@localhost"))
    assert photoHash == hashlib.sha1(photo).hexdigest()
    await alice.close()
    await bob.close()


@asyncioTest
async def test_vcard_of_another_account_cannot_be_set_and_sizes_are_bounded(served):
    bob = await loggedIn(served, "bob")
    reply = await setIQ(bob, "<vCard xmlns='vcard-temp'><FN>Mallory</FN></vCard>",
                        to="alice@localhost")
    assert stanzaErrorCondition(reply) == ("auth", "forbidden")
    reply = await setIQ(bob, vcardWithPhoto("Bob", b"x" * 5000), id="big")
    assert stanzaErrorCondition(reply) == ("modify", "not-acceptable")
    reply = await setIQ(bob, "<vCard xmlns='vcard-temp'><PHOTO><BINVAL>***</BINVAL></PHOTO>"
                        "</vCard>", id="notbase64")
    assert stanzaErrorCondition(reply) == ("modify", "bad-request")
    assert await wait(served.storage.vcards.get("alice@localhost")) is None
    reply = await ask(bob, "nobody@localhost", "<vCard xmlns='vcard-temp'/>", "ghost")
    assert stanzaErrorCondition(reply) == ("cancel", "service-unavailable")
    await bob.close()


@asyncioTest
async def test_presence_carries_the_vcard_photo_hash(served):
    """XEP-0153: the server adds the avatar's hash to the account's presence."""
    from tests.offline.transcript import sendPresence
    alice = await loggedIn(served, "alice", "phone")
    photo = b"\x89PNG an avatar"
    assert (await setIQ(alice, vcardWithPhoto("Alice", photo))).get("type") == "result"
    laptop = await loggedIn(served, "alice", "laptop")
    reflected = await sendPresence(laptop)
    update = reflected.find("{vcard-temp:x:update}x")
    assert update is not None, ET.tostring(reflected)
    assert update.findtext("{vcard-temp:x:update}photo") == hashlib.sha1(photo).hexdigest()
    # A presence that says it already (a client that knows XEP-0153) is left as it is.
    laptop.sendRaw("<presence><x xmlns='vcard-temp:x:update'><photo/></x></presence>")
    again = await laptop.expect()
    assert [p.text for p in again.find("{vcard-temp:x:update}x")] == [None], ET.tostring(again)
    await alice.close()
    await laptop.close()


def countVCardReads(served, monkeypatch):
    vcards = served.host().storage.vcards
    reads = []
    get = vcards.get
    monkeypatch.setattr(vcards, "get", lambda owner: reads.append(owner) or get(owner))
    return reads


@asyncioTest
async def test_photo_hash_is_in_presence_at_the_next_login_without_reading_the_vcard(
        served, monkeypatch):
    from tests.offline.transcript import sendPresence
    reads = countVCardReads(served, monkeypatch)
    alice = await loggedIn(served, "alice", "phone")
    photo = b"\x89PNG an avatar"
    assert (await setIQ(alice, vcardWithPhoto("Alice", photo))).get("type") == "result"
    await alice.close()
    again = await loggedIn(served, "alice", "laptop")
    reflected = await sendPresence(again)
    assert reflected.findtext("{vcard-temp:x:update}x/{vcard-temp:x:update}photo") == (
        hashlib.sha1(photo).hexdigest()), ET.tostring(reflected)
    # The photo is removed: the next login's presence has no hash.
    assert (await setIQ(again, "<vCard xmlns='vcard-temp'><FN>Alice</FN></vCard>")).get(
        "type") == "result"
    await again.close()
    third = await loggedIn(served, "alice", "tablet")
    assert (await sendPresence(third)).find("{vcard-temp:x:update}x") is None
    await third.close()
    assert reads == ["alice@localhost"]


@asyncioTest
async def test_an_account_deleted_and_made_again_has_no_photo_hash_of_the_old_one(served):
    from tests.offline.transcript import sendPresence
    alice = await loggedIn(served, "alice", "phone")
    assert (await setIQ(alice, vcardWithPhoto("Alice", b"old avatar"))).get("type") == "result"
    await alice.close()
    await wait(served.server.accounts.delete("alice@localhost"))
    await wait(served.addUser("alice", "secret-alice"))
    again = await loggedIn(served, "alice", "laptop")
    assert (await sendPresence(again)).find("{vcard-temp:x:update}x") is None
    await again.close()
