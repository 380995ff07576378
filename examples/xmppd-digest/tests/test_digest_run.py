"""
The installed distribution in a server of its own: ``xmppd run`` in a
subprocess on a fresh SQLite database, accounts made with ``xmppctl``,
raw clients over real TCP and TLS. Nothing of the test process's server
is involved: the entry points, the digest's schema delta and its hooks
are found and applied as an operator's server finds them.
"""

import asyncio
import os
import socket
import sys
import types

from tests.aio import asyncioTest
from tests.offline.transcript import (
    assertOfflineCopy, body, expectMessages, expectSilence, online, send)


def freePort():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def runningServer(config):
    process = await asyncio.create_subprocess_exec(
        os.path.join(os.path.dirname(sys.executable), "xmppd"), "run", "--config", str(config),
        "--logfile=-", cwd=config.parent,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    while True:
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        assert line, "xmppd exited before listening"
        if b"ClientStreamFactory starting on" in line:
            return process


@asyncioTest
async def test_xmppd_run_counts_what_bob_missed_and_tells_him(tmp_path, run):
    port = freePort()
    config = tmp_path / "xmppd.toml"
    config.write_text('[server]\ndata_dir = "%s"\n\n[c2s]\ninterface = "127.0.0.1"\nport = %d\n\n'
                      '[modules.digest]\n\n[modules.digest_notice]\n' % (tmp_path / "data", port))
    for name in ("alice", "bob"):
        password = tmp_path / name
        password.write_text("secret-%s\n" % name)
        assert (await run("xmppctl", "--config", str(config), "adduser", name + "@localhost",
                          "--password-file", str(password)))[0] == 0
    process = await runningServer(config)
    clients = []
    try:
        xmpp = types.SimpleNamespace(port=port)
        alice = await online(xmpp, "alice")
        clients.append(alice)
        send(alice, "bob@localhost", "m0", "are you there?")
        # Answered once the server has read the message, which is then
        # queued in bob's lane ahead of anything his login brings.
        assert await alice.roundTrip() == []
        bob = await online(xmpp, "bob", "phone")
        clients.append(bob)
        stored, notice = await expectMessages(bob, 2)
        assertOfflineCopy(stored, "alice@localhost/r1", "m0", "are you there?")
        assert (notice.get("type"), notice.get("from")) == ("headline", "localhost")
        assert body(notice) == "While you were away: 1 message from alice@localhost."
        await expectSilence(bob)
    finally:
        for client in clients:
            await client.close()
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)
