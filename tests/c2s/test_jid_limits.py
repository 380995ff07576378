"""
Addresses from clients: every part within RFC 7622's 1023 bytes, preparing
a hostile address costs no more than a valid one, and no address a client
chooses is kept for good in a cache.
"""

import time

from tests.aio import asyncioTest, wait
from tests.c2s.hostile import hostileServer
from tests.offline.transcript import online, send
from tests.rawclient import NS_CLIENT, q, stanzaErrorCondition


@asyncioTest
async def test_message_to_a_localpart_over_1023_bytes_is_jid_malformed(make_database, tmp_path):
    server = await hostileServer(make_database, tmp_path)
    try:
        alice = await online(server, "alice")
        send(alice, "%s@localhost" % ("a" * 1024), "long", "hi")
        reply = await alice.expect()
        assert stanzaErrorCondition(reply) == ("modify", "jid-malformed")
        send(alice, "%s@localhost" % ("a" * 1023), "longest", "hi", type="headline")
        assert await alice.roundTrip() == []
    finally:
        await wait(server.stop())


@asyncioTest
async def test_message_to_a_domain_with_an_empty_label_is_jid_malformed(make_database, tmp_path):
    server = await hostileServer(make_database, tmp_path)
    try:
        alice = await online(server, "alice")
        for i, address in enumerate(("bob@a..b", "bob@.localhost", "a..b")):
            send(alice, address, "empty%d" % i, "hi")
            reply = await alice.expect()
            assert stanzaErrorCondition(reply) == ("modify", "jid-malformed"), address
        assert await alice.roundTrip() == []
    finally:
        await wait(server.stop())


@asyncioTest
async def test_two_hundred_2KB_addresses_are_refused_in_bounded_time(make_database, tmp_path):
    server = await hostileServer(make_database, tmp_path)
    try:
        alice = await online(server, "alice")
        started = time.monotonic()
        for i in range(200):
            send(alice, "%s%d@localhost" % ("ß" * 2000, i), "m%d" % i, "hi")
        replies = [await alice.expect() for _ in range(200)]
        assert {stanzaErrorCondition(r) for r in replies} == {("modify", "jid-malformed")}
        assert time.monotonic() - started < 1.0
    finally:
        await wait(server.stop())


@asyncioTest
async def test_addresses_a_client_chooses_are_not_kept_for_good(make_database, tmp_path):
    from twisted.words.protocols.jabber import jid

    from xmppd import jidprep
    server = await hostileServer(make_database, tmp_path)
    try:
        alice = await online(server, "alice")
        addresses = ["stranger%d@localhost/%d" % (i, i) for i in range(3000)]
        for i, address in enumerate(addresses):
            send(alice, address, "u%d" % i, type="headline")
        await alice.roundTrip()
        interned = vars(jid)["__internJIDs"]
        assert not [a for a in addresses if a in interned]
        assert jidprep._cachedParse.cache_info().maxsize == jidprep.CACHE_SIZE
    finally:
        await wait(server.stop())


@asyncioTest
async def test_empty_from_and_to_get_errors_not_a_traceback(make_database, tmp_path):
    server = await hostileServer(make_database, tmp_path)
    try:
        alice = await online(server, "alice")
        alice.sendRaw("<message to='' id='e1' type='chat'><body>hi</body></message>")
        reply = await alice.expect()
        assert reply.tag == q(NS_CLIENT, "message")
        assert stanzaErrorCondition(reply) == ("modify", "jid-malformed")
        alice.sendRaw("<message from='' to='alice@localhost' id='e2'/>")
        await alice.expectStreamError("invalid-from")
    finally:
        await wait(server.stop())
