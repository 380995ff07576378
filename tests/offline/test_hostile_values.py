"""
Hostile values an account can put into offline storage, and what they get:
a msgoffline limit past 10^6 is bad-request (and one stored by an older
version no longer breaks storing), a XEP-0023 expiry of ≥ 9.2e12 seconds is
clamped to 100 years, and a user's stored messages are capped in bytes
(``[modules.offline] max_user_bytes``) as well as in count.
"""

import xml.etree.ElementTree as ET

import pytest

from tests.aio import asyncioTest, wait
from tests.conftest import WITH_MEMORY
from tests.offline.test_limits import QUEUE_FULL, limitOf, setLimit
from tests.offline.transcript import (
    assertBounce, expectMessages, expectSilence, online, send, settle, storedCount)
from tests.rawclient import NS_CLIENT, NS_STANZAS, q, stanzaErrorCondition
from xmppd.offline.policy import MAX_EXPIRE_SECONDS

BOB = "bob@localhost"
BACKENDS = pytest.mark.parametrize("backend", WITH_MEMORY)


@BACKENDS
@asyncioTest
async def test_msgoffline_limit_past_a_million_is_bad_request_and_an_old_huge_one_still_stores(
        serve, backend):
    xmpp = await serve(backend, offline={"user_limits": True})
    bob = await online(xmpp, "bob")
    for hostile in ("1000001", "1" + "0" * 23, "9" * 5000):
        reply = await setLimit(bob, hostile)
        assert stanzaErrorCondition(reply) == ("modify", "bad-request"), ET.tostring(reply)
        assert reply.find(q(NS_CLIENT, "error")).findtext(q(NS_STANZAS, "text")) == (
            "the 'limit' attribute must be at most 1000000")
    assert limitOf(await setLimit(bob, "0001000000")) == "1000000"
    await bob.close()
    # A value an older version let through: storing for bob goes on working.
    await wait(xmpp.storage.settings.set(BOB, "offline-msgs", "store-limit", "1" + "0" * 23))
    alice = await online(xmpp, "alice")
    send(alice, BOB, "m1", "still stored")
    assert await settle(xmpp, "bob", alice) == [[]]
    await expectSilence(alice)
    assert await storedCount(xmpp, "bob") == 1


@BACKENDS
@asyncioTest
async def test_xep0023_expiry_past_64_bits_is_clamped_to_a_hundred_years(serve, backend):
    xmpp = await serve(backend)
    alice = await online(xmpp, "alice")
    for n, seconds in enumerate(("9200000000000", "9" * 30)):
        send(alice, BOB, "x%d" % n, "far future",
             payload="<x xmlns='jabber:x:expire' seconds='%s'/>" % seconds)
    assert await settle(xmpp, "bob", alice) == [[]]
    await expectSilence(alice)
    rows = await wait(xmpp.storage.offline.listMessages(BOB))
    assert len(rows) == 2
    for _, _, storedAt, expiresAt, _ in rows:
        assert expiresAt - storedAt == MAX_EXPIRE_SECONDS * 1_000_000
    bob = await online(xmpp, "bob")
    assert [m.get("id") for m in await expectMessages(bob, 2)] == ["x0", "x1"]


@BACKENDS
@asyncioTest
async def test_user_queue_is_capped_in_bytes_and_the_rest_bounces(serve, backend):
    xmpp = await serve(backend, offline={"max_user_bytes": "4KiB"})
    alice = await online(xmpp, "alice")
    carol = await online(xmpp, "carol")
    # Each stored copy is a little over 1 KiB: three fit, from any sender.
    for n in range(3):
        send(alice, BOB, "a%d" % n, "a" * 1024)
    assert await settle(xmpp, "bob", alice) == [[]]
    send(carol, BOB, "c0", "c" * 1024)
    send(alice, BOB, "huge", "h" * 5000)
    early = await settle(xmpp, "bob", alice, carol)
    bounces = early[0] + await expectMessages(alice, 1 - len(early[0]))
    bounces += early[1] + await expectMessages(carol, 1 - len(early[1]))
    assert [b.get("id") for b in bounces] == ["huge", "c0"]
    for bounce in bounces:
        assertBounce(bounce, bounce.get("id"), "service-unavailable", "cancel",
                     text=QUEUE_FULL, code="503", sender=BOB)
    await expectSilence(alice, carol)
    assert await storedCount(xmpp, "bob") == 3
    # Another user's queue is not affected.
    send(alice, "dave@localhost", "d0", "d" * 1024)
    assert await settle(xmpp, "dave", alice) == [[]]
    assert await storedCount(xmpp, "dave") == 1
