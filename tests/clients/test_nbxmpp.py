"""
nbxmpp (Gajim's library, Debian's python3-nbxmpp on the system Python)
against xmppd over STARTTLS and direct TLS: login, roster, chat, and
offline delivery with its delay.
"""

import os
import subprocess

import pytest

from tests.aio import asyncioTest, wait
from tests.clients.conftest import HERE, clientEnvironment, requireProgram
from tests.clients.driver import ScriptedClient
from tests.offline.transcript import STAMP

SYSTEM_PYTHON = "/usr/bin/python3"
SCRIPT = os.path.join(HERE, "nbxmpp_client.py")
TRANSPORTS = ["starttls", "direct-tls"]


def requireNbxmpp():
    python = requireProgram("python3", SYSTEM_PYTHON)
    found = subprocess.run([python, "-c", "import nbxmpp"], capture_output=True)
    if found.returncode != 0:
        requireProgram("python3-nbxmpp", "/nonexistent")
    return python


def nbxmpp(xmpp, transport, user, resource, home):
    python = requireNbxmpp()
    port = xmpp.port if transport == "starttls" else xmpp.directTLSPort
    certificate = os.path.join(os.path.dirname(xmpp.caPath), "server.pem")
    return ScriptedClient.start(
        "nbxmpp " + user, [python, SCRIPT, "127.0.0.1:%d" % port, transport, user,
                           "secret-" + user, resource, certificate],
        clientEnvironment(xmpp, home))


@pytest.mark.parametrize("transport", TRANSPORTS)
@asyncioTest
async def test_nbxmpp_clients_log_in_manage_the_roster_and_chat(trusted_xmpp, transport,
                                                                tmp_path):
    alice = await nbxmpp(trusted_xmpp, transport, "alice", "gajim", tmp_path / "alice")
    bob = await nbxmpp(trusted_xmpp, transport, "bob", "gajim", tmp_path / "bob")
    try:
        online = await alice.expect("online")
        assert online["jid"] == "alice@localhost/gajim"
        assert online["direct"] == (transport == "direct-tls")
        await bob.expect("online")
        alice.command(roster=True)
        assert (await alice.expect("roster"))["items"] == []
        alice.command(add={"jid": "bob@localhost", "name": "Bob"})
        await alice.expect("added")
        alice.command(roster=True)
        assert (await alice.expect("roster"))["items"] == [
            {"jid": "bob@localhost", "name": "Bob", "subscription": "none"}]
        await wait(trusted_xmpp.available("bob@localhost"))
        alice.command(send={"to": "bob@localhost", "body": "hello from nbxmpp"})
        received = await bob.expect("message")
        assert received == {"event": "message", "from": "alice@localhost/gajim",
                            "type": "chat", "body": "hello from nbxmpp", "delay": None}
    finally:
        await alice.quit()
        await bob.quit()


@pytest.mark.parametrize("transport", TRANSPORTS)
@asyncioTest
async def test_nbxmpp_receives_a_message_stored_offline_with_its_delay(trusted_xmpp, transport,
                                                                      tmp_path):
    alice = await nbxmpp(trusted_xmpp, transport, "alice", "gajim", tmp_path / "alice")
    try:
        await alice.expect("online")
        alice.command(send={"to": "bob@localhost", "body": "are you there?"})
        await wait(trusted_xmpp.storedOffline("bob@localhost", 1))
        bob = await nbxmpp(trusted_xmpp, transport, "bob", "gajim", tmp_path / "bob")
        try:
            await bob.expect("online")
            received = await bob.expect("message")
        finally:
            await bob.quit()
    finally:
        await alice.quit()
    assert received["body"] == "are you there?"
    assert received["from"] == "alice@localhost/gajim"
    assert STAMP.match(received["delay"]), received
