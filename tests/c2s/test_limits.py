"""Bounded resources: connections per address, idle clients, direct TLS."""

import asyncio
import ssl

from tests.aio import asyncioTest, wait
from tests.rawclient import NS_CLIENT, RawClient, q


async def serverWith(make_database, tmp_path, **c2s):
    from tests.harness import startServer
    database = await wait(make_database("sqlite"))
    server = await wait(startServer(database, tmp_path, {"c2s": c2s}))
    await wait(server.addUser("alice", "secret-alice"))
    return server


@asyncioTest
async def test_connections_per_address_are_bounded(make_database, tmp_path):
    server = await serverWith(make_database, tmp_path, max_connections_per_ip=2)
    try:
        first = await RawClient.connect(server.port)
        await first.open()
        second = await RawClient.connect(server.port)
        await second.open()
        third = await RawClient.connect(server.port)
        third.sendRaw("<stream:stream xmlns='jabber:client' xmlns:stream="
                      "'http://etherx.jabber.org/streams' to='localhost' version='1.0'>")
        await third.expectStreamError("resource-constraint")
        await first.close()
        await first.expectClosed()
        fourth = await RawClient.connect(server.port)
        features = await fourth.open()
        assert features is not None
    finally:
        await wait(server.stop())


@asyncioTest
async def test_idle_client_is_pinged_then_closed(make_database, tmp_path):
    server = await serverWith(make_database, tmp_path, idle_timeout="1s", ping_timeout="1s")
    try:
        alice = await RawClient.connect(server.port, answerPings=False)
        await alice.login("alice", "secret-alice", "phone")
        ping = await alice.expect()
        assert ping.tag == q(NS_CLIENT, "iq") and ping.get("type") == "get"
        assert ping.find(q("http://jabber.org/protocol/disco#info", "query")) is not None
        assert ping.get("to") == "alice@localhost/phone"
        # Answering keeps the stream; silence after the next ping ends it.
        alice.sendRaw("<iq type='result' id='%s' to='localhost'/>" % ping.get("id"))
        second = await alice.expect()
        assert second.find(q("http://jabber.org/protocol/disco#info", "query")) is not None
        await alice.expectStreamError("connection-timeout")
    finally:
        await wait(server.stop())


@asyncioTest
async def test_direct_tls_port_needs_no_starttls(make_database, tmp_path):
    from twisted.internet import reactor

    from xmppd.tap import DirectTLSFactory
    server = await serverWith(make_database, tmp_path)
    listener = reactor.listenSSL(0, DirectTLSFactory(server.server.c2sFactory),
                                 server.server.tlsContext, interface="127.0.0.1")
    try:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", listener.getHost().port, ssl=context, server_hostname="localhost")
        client = RawClient(reader, writer)
        await client.open()
        assert client.mechanisms() == ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS",
                                       "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]
        assert (await client.authenticate("alice", "secret-alice", "PLAIN")).tag.endswith("success")
    finally:
        await wait(listener.stopListening())
        await wait(server.stop())
