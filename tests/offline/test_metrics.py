"""Offline metrics (SPEC §7) counted as messages go through, served over HTTP."""

import asyncio

import pytest

from tests.aio import asyncioTest, wait
from tests.conftest import WITH_MEMORY
from tests.offline.transcript import expectMessages, online, send, settle

BOB = "bob@localhost"


@pytest.mark.parametrize("backend", WITH_MEMORY)
@asyncioTest
async def test_counters_and_histograms_follow_the_messages(serve, backend):
    xmpp = await serve(backend, offline={"pair_limit": 2})
    registry = xmpp.server.metricsRegistry
    value = registry.get_sample_value
    alice = await online(xmpp, "alice")
    for n in range(3):
        send(alice, BOB, "m%d" % n, "hi")
    send(alice, BOB, "h", "news", type="headline")
    early = await settle(xmpp, "bob", alice)
    early[0] or await expectMessages(alice, 1)
    bob = await online(xmpp, "bob")
    await expectMessages(bob, 2)
    # Delivered counts once bob acknowledged the batch and the rows went.
    await settle(xmpp, "bob", bob)
    assert value("xmppd_offline_stored_total") == 2
    assert value("xmppd_offline_delivered_total") == 2
    assert value("xmppd_offline_bounced_total", {"reason": "quota-pair"}) == 1
    assert value("xmppd_offline_dropped_total", {"reason": "headline"}) == 1
    labels = {"backend": backend}
    # Three inserts: the atomic insert, not a count before it, refuses m2.
    assert value("xmppd_offline_write_seconds_count", labels) == 3
    assert value("xmppd_offline_pop_seconds_count", labels) >= 1


@asyncioTest
async def test_metrics_endpoint_serves_the_server_registry(serve):
    from xmppd.metrics import metricsService
    xmpp = await serve("sqlite")
    service = metricsService(xmpp.server, "127.0.0.1:0")
    service.startService()
    try:
        port = service._port.getHost().port
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        response = (await asyncio.wait_for(reader.read(), 10)).decode()
        writer.close()
    finally:
        await wait(service.stopService())
    assert response.startswith("HTTP/1.0 200") or response.startswith("HTTP/1.1 200")
    assert "xmppd_offline_stored_total 0.0" in response
    assert "xmppd_offline_write_seconds_bucket" in response or \
        "# TYPE xmppd_offline_write_seconds histogram" in response
