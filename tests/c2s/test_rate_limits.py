"""
Rate limits (token buckets in bytes per second, per account and per IP
address): a client sending faster than its rate is slowed, its reads paused
until its bucket refills, not disconnected; the throttle is logged once, and
everyone else goes on being served.
"""

import asyncio
import time

from twisted.python import log

from tests.aio import asyncioTest, wait
from tests.c2s.hostile import assertServesAnotherClient, hostileServer
from tests.offline.transcript import expectMessages, message, sendPresence
from tests.rawclient import RawClient

KiB = 1024
RATE = 64 * KiB
BURST = 8 * KiB
# The server charges what it has read, then pauses: the last read (at most
# 64 KiB) is parsed, and echoed, before the wait it causes.
LAST_READ = 64 * KiB
# 80 messages of a little over 2 KiB: at least 1.4 s at 64 KiB/s;
# unthrottled, they come back in a fraction of that.
COUNT = 80
BODY = "x" * (2 * KiB)
SLOWED = (COUNT * len(BODY) - BURST - LAST_READ) / RATE


def rateLogLines(logged):
    return [" ".join(e["message"]) for e in logged
            if "rate limited" in " ".join(e.get("message", ()))]


async def floodSelf(client):
    """Send COUNT messages to oneself; the seconds until all have come back."""
    started = time.monotonic()
    client.sendRaw("".join(message(client.jid, "m%d" % n, BODY) for n in range(COUNT)))
    received = await expectMessages(client, COUNT)
    assert [m.get("id") for m in received] == ["m%d" % n for n in range(COUNT)]
    return time.monotonic() - started


@asyncioTest
async def test_account_over_its_rate_is_slowed_not_closed_and_others_are_served(
        make_database, tmp_path):
    server = await hostileServer(make_database, tmp_path, rate_limit_bytes_per_second="64KiB",
                                 rate_limit_burst="8KiB", ip_rate_limit_bytes_per_second=0)
    await wait(server.addUser("bob", "secret-bob"))
    logged = []
    log.addObserver(logged.append)
    try:
        alice = await RawClient.connect(server.port)
        await alice.login("alice", "secret-alice", "flood")
        await sendPresence(alice)
        flooding = asyncio.ensure_future(floodSelf(alice))
        # While alice is held back, bob logs in and is answered at once.
        await assertServesAnotherClient(server, "bob", "secret-bob")
        assert not flooding.done()
        elapsed = await flooding
        assert elapsed >= SLOWED, "%d bytes took only %.2f s" % (COUNT * len(BODY), elapsed)
        # Slowed, not closed: alice's stream goes on.
        assert await alice.roundTrip() == []
        assert rateLogLines(logged) == [
            "c2s 127.0.0.1: rate limited (alice@localhost over 65536 bytes/s), reads paused"]
    finally:
        log.removeObserver(logged.append)
        await wait(server.stop())


@asyncioTest
async def test_address_over_its_rate_is_slowed_and_other_addresses_are_served(
        make_database, tmp_path):
    server = await hostileServer(make_database, tmp_path, ip_rate_limit_bytes_per_second="64KiB",
                                 ip_rate_limit_burst="8KiB", rate_limit_bytes_per_second=0)
    logged = []
    log.addObserver(logged.append)
    try:
        mallory = await RawClient.connect(server.port, source="127.0.0.2")
        await mallory.login("alice", "secret-alice", "flood")
        await sendPresence(mallory)
        flooding = asyncio.ensure_future(floodSelf(mallory))
        # The same account from another address is not held back.
        await assertServesAnotherClient(server, source="127.0.0.1")
        assert not flooding.done()
        elapsed = await flooding
        assert elapsed >= SLOWED, "%d bytes took only %.2f s" % (COUNT * len(BODY), elapsed)
        assert await mallory.roundTrip() == []
        assert rateLogLines(logged) == [
            "c2s 127.0.0.2: rate limited (address over 65536 bytes/s), reads paused"]
    finally:
        log.removeObserver(logged.append)
        await wait(server.stop())
