"""
What an idle authenticated session leaves behind once its login is over:
no auth timeout waiting in the reactor, and no parser of the streams that
STARTTLS and SASL replaced (each holds expat's buffers) waiting for the
cycle collector.
"""

import gc
import weakref

from tests.aio import asyncioTest, wait
from tests.c2s.hostile import hostileServer
from tests.rawclient import RawClient
from xmppd.c2s import xmlstream


@asyncioTest
async def test_a_bound_stream_has_no_auth_timeout_pending(make_database, tmp_path):
    server = await hostileServer(make_database, tmp_path)
    try:
        alice = await RawClient.connect(server.port)
        await alice.login("alice", "secret-alice", "idle")
        assert await alice.roundTrip() == []
        (stream,) = server.server.c2sFactory.streams
        assert [call for call in stream.factory.clock.getDelayedCalls()
                if call.func == stream._authTimedOut] == []
        await alice.close()
    finally:
        await wait(server.stop())


@asyncioTest
async def test_replaced_parsers_are_freed_without_the_cycle_collector(
        make_database, tmp_path, monkeypatch):
    server = await hostileServer(make_database, tmp_path)
    superseded = []
    supersede = xmlstream.HardenedElementStream.supersede

    def recording(self):
        superseded.append(weakref.ref(self))
        supersede(self)

    monkeypatch.setattr(xmlstream.HardenedElementStream, "supersede", recording)
    collecting = gc.isenabled()
    gc.disable()
    try:
        alice = await RawClient.connect(server.port)
        await alice.login("alice", "secret-alice", "idle")
        assert await alice.roundTrip() == []
        # After STARTTLS and after SASL.
        assert len(superseded) == 2
        assert [ref for ref in superseded if ref() is not None] == []
        await alice.close()
    finally:
        if collecting:
            gc.enable()
        await wait(server.stop())
