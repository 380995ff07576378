"""
Half-open TLS: a client that starts TLS and never finishes the handshake,
or never reads what closes its stream, loses its connection in bounded time
(Prosody closes such connections at 60 s), so it cannot fill the per-IP or
global connection limits.
"""

import asyncio
import time

from tests.aio import asyncioTest, wait
from tests.c2s.hostile import (
    STARTTLS, assertServesAnotherClient, hostileServer, readUntilClosed)
from tests.rawclient import NS_TLS, RawClient, q

HALF_A_CLIENT_HELLO = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 20


async def proceedThenStall(server, partial=b""):
    mallory = await RawClient.connect(server.port)
    await mallory.open()
    mallory.sendRaw(STARTTLS)
    assert (await mallory.expect()).tag == q(NS_TLS, "proceed")
    mallory.sendRaw(partial)
    return mallory


@asyncioTest
async def test_client_sending_no_client_hello_is_aborted_at_the_handshake_timeout(
        make_database, tmp_path):
    server = await hostileServer(make_database, tmp_path, tls_handshake_timeout="1s",
                                 max_connections_per_ip=3)
    try:
        started = time.monotonic()
        stalled = [await proceedThenStall(server) for _ in range(3)]
        for mallory in stalled:
            assert await readUntilClosed(mallory, timeout=5) == b""
        assert 1 <= time.monotonic() - started < 4
        assert not server.server.c2sFactory.streams
        # The per-IP limit of 3 is free again.
        await assertServesAnotherClient(server)
    finally:
        await wait(server.stop())


@asyncioTest
async def test_half_a_client_hello_is_aborted_at_the_handshake_timeout(make_database, tmp_path):
    server = await hostileServer(make_database, tmp_path, tls_handshake_timeout="1s")
    try:
        mallory = await proceedThenStall(server, HALF_A_CLIENT_HELLO)
        assert await readUntilClosed(mallory, timeout=5) == b""
        await assertServesAnotherClient(server)
    finally:
        await wait(server.stop())


@asyncioTest
async def test_stream_closed_on_a_stalled_handshake_is_aborted_at_the_close_timeout(
        make_database, tmp_path):
    # The auth timeout closes the stream first; the close cannot flush
    # through a handshake that never ends, so the close timeout aborts it.
    server = await hostileServer(make_database, tmp_path, auth_timeout="1s",
                                 tls_handshake_timeout="1m", close_timeout="1s")
    try:
        started = time.monotonic()
        mallory = await proceedThenStall(server, HALF_A_CLIENT_HELLO)
        await readUntilClosed(mallory, timeout=5)
        assert 2 <= time.monotonic() - started < 4.5
        assert not server.server.c2sFactory.streams
    finally:
        await wait(server.stop())


@asyncioTest
async def test_direct_tls_client_that_never_handshakes_is_aborted(make_database, tmp_path):
    from twisted.internet import reactor

    from xmppd.tap import DirectTLSFactory
    server = await hostileServer(make_database, tmp_path, tls_handshake_timeout="1s")
    listener = reactor.listenSSL(0, DirectTLSFactory(server.server.c2sFactory),
                                 server.server.tlsContext, interface="127.0.0.1")
    try:
        started = time.monotonic()
        reader, writer = await asyncio.open_connection("127.0.0.1", listener.getHost().port)
        mallory = RawClient(reader, writer)
        assert await readUntilClosed(mallory, timeout=5) == b""
        assert 1 <= time.monotonic() - started < 4
        assert not server.server.c2sFactory.streams
    finally:
        await wait(listener.stopListening())
        await wait(server.stop())
