"""
What a client may make the server hold: 10 KiB per stanza until it has
authenticated (Prosody's limit), and never a stanza nested deeper than
``max_stanza_depth``, which is refused before it is stored or routed.
"""

import time
import xml.etree.ElementTree as ET

from tests.aio import asyncioTest, wait
from tests.c2s.hostile import (
    STREAM_HEADER, assertServesAnotherClient, hostileServer, plainAuth, rssBytes)
from tests.offline.transcript import expectMessages, online, send
from tests.rawclient import NS_CLIENT, RawClient, q


def nested(depth, name="x"):
    return "<%s>" % name * depth + "</%s>" % name * depth


@asyncioTest
async def test_unauthenticated_stanza_over_10KiB_is_policy_violation(make_database, tmp_path):
    server = await hostileServer(make_database, tmp_path)
    try:
        mallory = await RawClient.connect(server.port)
        await mallory.open()
        await mallory.starttls()
        mallory.sendRaw("<iq type='get' id='big'><query xmlns='jabber:iq:register'>"
                        + "x" * 11 * 1024 + "</query></iq>")
        error = await mallory.expectStreamError("policy-violation")
        assert "too large" in ET.tostring(error, encoding="unicode")
        await assertServesAnotherClient(server)
    finally:
        await wait(server.stop())


@asyncioTest
async def test_sasl_username_of_190000_characters_is_refused_without_stringprep(
        make_database, tmp_path):
    server = await hostileServer(make_database, tmp_path)
    try:
        mallory = await RawClient.connect(server.port)
        await mallory.open()
        await mallory.starttls()
        started = time.monotonic()
        mallory.sendRaw(plainAuth("m" * 190000, "pw"))
        await mallory.expectStreamError("policy-violation")
        assert time.monotonic() - started < 0.5
        await assertServesAnotherClient(server)
    finally:
        await wait(server.stop())


@asyncioTest
async def test_sasl_username_over_1023_bytes_fails_not_authorized(make_database, tmp_path):
    server = await hostileServer(make_database, tmp_path)
    try:
        mallory = await RawClient.connect(server.port)
        await mallory.open()
        await mallory.starttls()
        result = await mallory.authenticate("m" * 1024, "pw", "PLAIN")
        assert [c.tag.split("}")[1] for c in result] == ["not-authorized"]
    finally:
        await wait(server.stop())


@asyncioTest
async def test_authenticated_client_keeps_the_full_stanza_size_limit(make_database, tmp_path):
    server = await hostileServer(make_database, tmp_path)
    try:
        alice = await online(server, "alice")
        send(alice, "alice@localhost/r1", "big", "y" * 20 * 1024)
        [echo] = await expectMessages(alice, 1)
        assert echo.get("id") == "big"
    finally:
        await wait(server.stop())


@asyncioTest
async def test_twenty_unauthenticated_connections_cannot_grow_the_server(
        make_database, tmp_path):
    server = await hostileServer(make_database, tmp_path)
    try:
        before = rssBytes()
        attackers = []
        for _ in range(20):
            mallory = await RawClient.connect(server.port)
            # 64 KiB of empty elements in one unfinished stanza: 16,384
            # elements for the parser to build, were it allowed to.
            mallory.sendRaw(STREAM_HEADER + "<iq type='get' id='m'>" + "<a/>" * 16384)
            attackers.append(mallory)
        for mallory in attackers:
            await mallory.expectHeader()
            await mallory.expect()  # features
            await mallory.expectStreamError("policy-violation")
        grown = rssBytes() - before
        assert grown < 40 * 1024 * 1024, "RSS grew by %d MB" % (grown >> 20)
        await assertServesAnotherClient(server)
    finally:
        await wait(server.stop())


@asyncioTest
async def test_stanza_at_max_stanza_depth_is_routed(make_database, tmp_path):
    server = await hostileServer(make_database, tmp_path, max_stanza_depth=8)
    try:
        alice = await online(server, "alice")
        # message (1) > payload (2) > six more levels (3..8).
        send(alice, "alice@localhost/r1", "deep", payload="<p xmlns='urn:x'>%s</p>" % nested(6))
        [echo] = await expectMessages(alice, 1)
        assert echo.get("id") == "deep"
    finally:
        await wait(server.stop())


@asyncioTest
async def test_stanza_deeper_than_max_stanza_depth_is_policy_violation(make_database, tmp_path):
    server = await hostileServer(make_database, tmp_path, max_stanza_depth=8)
    try:
        alice = await online(server, "alice")
        send(alice, "alice@localhost/r1", "deep", payload="<p xmlns='urn:x'>%s</p>" % nested(7))
        error = await alice.expectStreamError("policy-violation")
        assert "deeper than 8" in ET.tostring(error, encoding="unicode")
        await assertServesAnotherClient(server)
    finally:
        await wait(server.stop())


@asyncioTest
async def test_message_nested_1000_deep_gets_a_stream_error_not_silence(make_database, tmp_path):
    server = await hostileServer(make_database, tmp_path)
    try:
        alice = await online(server, "alice")
        send(alice, "alice@localhost/r1", "deep", payload="<p xmlns='urn:x'>%s</p>" % nested(1000))
        await alice.expectStreamError("policy-violation")
        await assertServesAnotherClient(server)
    finally:
        await wait(server.stop())


@asyncioTest
async def test_deep_subscription_request_does_not_block_offline_delivery(make_database, tmp_path):
    server = await hostileServer(make_database, tmp_path)
    await wait(server.addUser("bob", "secret-bob"))
    try:
        bob = await online(server, "bob")
        bob.sendRaw("<presence to='alice@localhost' type='subscribe'>%s</presence>"
                    % nested(970, "status"))
        await bob.expectStreamError("policy-violation")
        bob = await online(server, "bob")
        send(bob, "alice@localhost", "m1", "while you were away")
        assert await bob.roundTrip() == []
        alice = await RawClient.connect(server.port)
        await alice.login("alice", "secret-alice", "r1")
        alice.sendRaw("<presence/>")
        arrived = []
        while not [e for e in arrived if e.tag == q(NS_CLIENT, "message")]:
            arrived.append(await alice.expect())
        assert [e.get("id") for e in arrived if e.tag == q(NS_CLIENT, "message")] == ["m1"]
        assert not [e for e in arrived if e.get("type") == "subscribe"]
    finally:
        await wait(server.stop())
