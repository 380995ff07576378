"""
The connection limits count admitted connections only: those refused, and
those that have not sent a stream header yet, take no slot, so a limit of
100 per address admits 100 of 150 clients knocking at once.
"""

import asyncio

from tests.aio import asyncioTest, wait
from tests.c2s.hostile import STREAM_HEADER, assertServesAnotherClient, hostileServer
from tests.rawclient import NS_STREAMS, RawClient, q

LIMIT = 100
KNOCKING = 150


async def knock(port):
    """Open a stream; True if features come, False on resource-constraint."""
    client = await RawClient.connect(port)
    client.sendRaw(STREAM_HEADER)
    await client.expectHeader()
    first = await client.expect()
    if first.tag == q(NS_STREAMS, "features"):
        return client, True
    assert first.tag == q(NS_STREAMS, "error"), first.tag
    assert first.find(q("urn:ietf:params:xml:ns:xmpp-streams", "resource-constraint")) is not None
    return client, False


@asyncioTest
async def test_limit_per_address_admits_exactly_the_limit_of_many_clients_at_once(
        make_database, tmp_path):
    server = await hostileServer(make_database, tmp_path, max_connections_per_ip=LIMIT)
    try:
        results = await asyncio.gather(*[knock(server.port) for _ in range(KNOCKING)])
        admitted = [client for client, ok in results if ok]
        refused = [client for client, ok in results if not ok]
        assert (len(admitted), len(refused)) == (LIMIT, KNOCKING - LIMIT)
        # The address is full, another one is not.
        _, ok = await knock(server.port)
        assert not ok
        await assertServesAnotherClient(server, source="127.0.0.2")
        # One admitted client leaves: one more is admitted from its address.
        await admitted[0].close()
        await admitted[0].expectClosed()
        client, ok = await knock(server.port)
        assert ok
        for other in admitted[1:] + refused + [client]:
            other.abort()
    finally:
        await wait(server.stop())


@asyncioTest
async def test_connections_without_a_stream_header_take_no_slot(make_database, tmp_path):
    server = await hostileServer(make_database, tmp_path, max_connections_per_ip=2)
    try:
        silent = [await RawClient.connect(server.port) for _ in range(5)]
        # The silent ones are open but not counted: two streams are admitted.
        first, ok1 = await knock(server.port)
        second, ok2 = await knock(server.port)
        third, ok3 = await knock(server.port)
        assert (ok1, ok2, ok3) == (True, True, False)
        factory = server.server.c2sFactory
        assert len(factory.admitted) == 2 and len(factory.streams - factory.admitted) >= 5
        await assertServesAnotherClient(server, source="127.0.0.2")
        for client in silent + [first, second, third]:
            client.abort()
    finally:
        await wait(server.stop())
