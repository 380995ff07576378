"""
The digest modules on a real xmppd, as transcripts: who was away, who
wrote meanwhile, what reached them when they came back. Real TCP and TLS,
raw clients, the stores on SQLite and on MariaDB.
"""

import xml.etree.ElementTree as ET

import pytest

from tests.aio import asyncioTest, wait
from tests.offline.transcript import (
    assertOfflineCopy, body, expectMessages, expectSilence, leave, online, send, settle)
from tests.rawclient import NS_CLIENT, q

BACKENDS = pytest.mark.parametrize("backend", ["sqlite", "mysql"])
BOB = "bob@localhost"


def assertNotice(element, to, text):
    """The digest's headline: from the host, to the resource that came online."""
    assert element.tag == q(NS_CLIENT, "message"), ET.tostring(element)
    assert (element.get("type"), element.get("from"), element.get("to")) == \
        ("headline", "localhost", to), ET.tostring(element)
    assert body(element) == text, ET.tostring(element)


def noticesSent(xmpp):
    return xmpp.host().metricsRegistry.get_sample_value("xmppd_digest_notices_sent_total")


@BACKENDS
@asyncioTest
async def test_bob_gets_his_stored_messages_then_one_line_naming_who_wrote(
        digest_server, backend):
    xmpp = await digest_server(backend)
    alice = await online(xmpp, "alice")
    carol = await online(xmpp, "carol")
    for n in range(3):
        send(alice, BOB, "a%d" % n, "alice %d" % n)
    assert await settle(xmpp, "bob", alice) == [[]]
    send(carol, BOB, "c0", "carol 0")
    assert await settle(xmpp, "bob", carol) == [[]]

    bob = await online(xmpp, "bob", "phone")
    *stored, notice = await expectMessages(bob, 5)
    for n, message in enumerate(stored[:3]):
        assertOfflineCopy(message, "alice@localhost/r1", "a%d" % n, "alice %d" % n)
    assertOfflineCopy(stored[3], "carol@localhost/r1", "c0", "carol 0")
    assertNotice(notice, "bob@localhost/phone",
                 "While you were away: 3 messages from alice@localhost"
                 " and 1 from carol@localhost.")
    await expectSilence(bob)
    assert noticesSent(xmpp) == 1


@BACKENDS
@asyncioTest
async def test_only_stored_messages_count_and_each_digest_is_told_once(digest_server, backend):
    xmpp = await digest_server(backend)
    alice = await online(xmpp, "alice")
    bob = await online(xmpp, "bob", "phone")
    send(alice, BOB, "live", "while bob is here")
    [live] = await expectMessages(bob, 1)
    assert live.get("id") == "live"
    # The server's acknowledgement probe for it may come in a later read:
    # answered before the round trip's answer, it reaches the server before
    # the stream's end, or "live" would be stored again as unacknowledged.
    assert await bob.roundTrip() == []
    await leave(xmpp, bob)

    send(alice, BOB, "away", "while bob is away")
    assert await settle(xmpp, "bob", alice) == [[]]
    bob = await online(xmpp, "bob", "phone")
    stored, notice = await expectMessages(bob, 2)
    assertOfflineCopy(stored, "alice@localhost/r1", "away", "while bob is away")
    assertNotice(notice, "bob@localhost/phone",
                 "While you were away: 1 message from alice@localhost.")

    laptop = await online(xmpp, "bob", "laptop")
    await expectSilence(laptop, bob)
    assert noticesSent(xmpp) == 1


@BACKENDS
@asyncioTest
async def test_a_resource_at_negative_priority_leaves_the_digest_for_the_next(
        digest_server, backend):
    xmpp = await digest_server(backend)
    alice = await online(xmpp, "alice")
    send(alice, BOB, "m0", "hello")
    assert await settle(xmpp, "bob", alice) == [[]]
    bot = await online(xmpp, "bob", "bot", priority=-1)
    await expectSilence(bot)
    phone = await online(xmpp, "bob", "phone")
    stored, notice = await expectMessages(phone, 2)
    assertOfflineCopy(stored, "alice@localhost/r1", "m0", "hello")
    assertNotice(notice, "bob@localhost/phone",
                 "While you were away: 1 message from alice@localhost.")


@BACKENDS
@asyncioTest
async def test_deleting_an_account_deletes_its_digest(digest_server, run, backend):
    from xmppd_digest import IDigest
    xmpp = await digest_server(backend)
    alice = await online(xmpp, "alice")
    send(alice, BOB, "m0", "hello")
    assert await settle(xmpp, "bob", alice) == [[]]
    digest = xmpp.host().service(IDigest)
    assert [(s.jid, s.messages) for s in await wait(digest.senders(BOB))] == \
        [("alice@localhost", 1)]

    status, out, err = await run("xmppctl", "--config", str(xmpp.configFile), "deluser", BOB)
    assert (status, out, err) == (0, "deleted bob@localhost\n", "")
    await wait(xmpp.addUser("bob", "secret-bob"))
    assert await wait(digest.senders(BOB)) == []
