"""
Helpers for the hostile-client tests: a server with alice, the proof that it
still serves another client promptly, and the server process's RSS.
"""

import base64
import time

from tests.aio import wait
from tests.rawclient import NS_SASL, NS_STREAMS, NS_TLS, RawClient

STREAM_HEADER = ("<stream:stream xmlns='jabber:client' xmlns:stream='%s' "
                 "to='localhost' version='1.0'>" % NS_STREAMS)
STARTTLS = "<starttls xmlns='%s'/>" % NS_TLS
PROMPTLY = 2.0


async def hostileServer(make_database, tmp_path, config=None, **c2s):
    from tests.harness import startServer
    database = await wait(make_database("sqlite"))
    config = dict(config or {})
    config.setdefault("c2s", {}).update(c2s)
    server = await wait(startServer(database, tmp_path, config))
    await wait(server.addUser("alice", "secret-alice"))
    return server


def plainAuth(username, password):
    payload = base64.b64encode(("\0%s\0%s" % (username, password)).encode()).decode()
    return "<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (NS_SASL, payload)


async def assertServesAnotherClient(server, username="alice", password="secret-alice",
                                    source=None):
    """A new client logs in and its ping is answered within PROMPTLY seconds."""
    started = time.monotonic()
    other = await RawClient.connect(server.port, source=source)
    await other.login(username, password, "witness")
    assert await other.roundTrip(timeout=PROMPTLY) == []
    elapsed = time.monotonic() - started
    assert elapsed < PROMPTLY, "login and ping took %.2f s" % elapsed
    await other.close()


def rssBytes():
    """The resident set size of this process, which runs the server."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def readUntilClosed(client, timeout=10):
    """
    Every byte the server sends until it closes (or resets: an abort with
    unread input is a TCP RST) the connection.
    """
    import asyncio
    data = b""
    while True:
        try:
            chunk = await asyncio.wait_for(client.reader.read(65536), timeout)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk
