"""
Output backpressure: the server stops reading from a client that does not
read what it is sent, so a client flooding itself only slows itself down;
a client that others flood and that never reads is closed once it has left
``output_buffer_limit`` unread. Neither grows the server without bound, and
everyone else goes on being served.
"""

import asyncio
import socket

from twisted.python import log

from tests.aio import asyncioTest, wait
from tests.c2s.hostile import assertServesAnotherClient, hostileServer, readUntilClosed, rssBytes
from tests.offline.transcript import message, online, sendPresence
from tests.rawclient import RawClient

MiB = 1024 * 1024


async def nonReader(port):
    """A client whose socket receive buffer is tiny, so the server's output piles up."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_event_loop().sock_connect(sock, ("127.0.0.1", port))
    return RawClient(*await asyncio.open_connection(sock=sock))


async def flood(client, to, total):
    """Send ``total`` bytes of messages; the bytes the server took within 2 s of silence."""
    stanza = message(to, "f", "x" * 1024) * 16
    sent = 0
    while sent < total:
        client.sendRaw(stanza)
        try:
            await asyncio.wait_for(client.writer.drain(), 2)
        except asyncio.TimeoutError:
            return sent
        except ConnectionError:
            return sent
        sent += len(stanza)
    return sent


@asyncioTest
async def test_client_flooding_itself_without_reading_is_paused(make_database, tmp_path):
    server = await hostileServer(make_database, tmp_path)
    try:
        mallory = await nonReader(server.port)
        await mallory.login("alice", "secret-alice", "flood")
        await sendPresence(mallory)
        before = rssBytes()
        # 64 MiB offered; the server stops taking them once its output to
        # mallory is backed up (its writes stall: the drain times out).
        taken = await flood(mallory, "alice@localhost/flood", 64 * MiB)
        assert taken < 16 * MiB
        grown = rssBytes() - before
        assert grown < 30 * MiB, "RSS grew by %d MB" % (grown >> 20)
        await assertServesAnotherClient(server)
        mallory.abort()
    finally:
        await wait(server.stop())


@asyncioTest
async def test_client_flooded_by_another_and_never_reading_is_closed(make_database, tmp_path):
    # bob does not read while he floods: the bounces of what alice/slow can
    # no longer take would otherwise close him too (max_unacknowledged).
    server = await hostileServer(make_database, tmp_path, output_buffer_limit="256KiB",
                                 max_unacknowledged=100000)
    await wait(server.addUser("bob", "secret-bob"))
    logged = []
    log.addObserver(logged.append)
    try:
        victim = await nonReader(server.port)
        await victim.login("alice", "secret-alice", "slow")
        await sendPresence(victim)
        bob = await online(server, "bob")
        before = rssBytes()
        await flood(bob, "alice@localhost/slow", 8 * MiB)
        await readUntilClosed(victim, timeout=10)
        grown = rssBytes() - before
        assert grown < 30 * MiB, "RSS grew by %d MB" % (grown >> 20)
        assert [s.jid.resource for s in server.server.sessions.resources("alice@localhost")] == []
        errors = [" ".join(e["message"]) for e in logged
                  if "stream error" in " ".join(e.get("message", ()))]
        assert errors == ["c2s 127.0.0.1: stream error policy-violation"
                          " (more than 262144 bytes unread)"]
        # bob still gets answers (after the replies to his messages that
        # arrived once alice/slow had gone).
        await bob.roundTrip()
        await assertServesAnotherClient(server)
    finally:
        log.removeObserver(logged.append)
        await wait(server.stop())


@asyncioTest
async def test_client_that_reads_gets_everything_it_floods_itself_with(make_database, tmp_path):
    server = await hostileServer(make_database, tmp_path, output_buffer_limit="256KiB")
    try:
        alice = await online(server, "alice")
        alice.sendRaw("".join(message("alice@localhost/r1", "m%d" % i, "x" * 1024)
                              for i in range(2000)))
        ids = [(await alice.expect()).get("id") for _ in range(2000)]
        assert ids == ["m%d" % i for i in range(2000)]
    finally:
        await wait(server.stop())
