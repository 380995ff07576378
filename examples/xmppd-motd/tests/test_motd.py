"""
The motd plugin, installed as its own distribution, against a real xmppd:
``twistd xmppd`` in a subprocess, real TCP and TLS, slixmpp clients.
"""

import asyncio
import functools
import os
import socket
import ssl
import subprocess
import sys

import pytest
import slixmpp
from slixmpp.exceptions import IqError
from slixmpp.xmlstream import ET
from twisted.internet.defer import Deferred

TWISTD = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]
XMPPCTL = [sys.executable, "-m", "xmppd.ctl"]
NS_MOTD = "urn:xmppd:motd"


def asyncioTest(fn):
    """Run an asyncio test body on the reactor's loop (pytest-twisted waits)."""
    @functools.wraps(fn)
    def test(*args, **kwargs):
        return Deferred.fromFuture(asyncio.ensure_future(fn(*args, **kwargs)))
    return test


def freePort():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    port = freePort()
    config = tmp_path / "xmppd.toml"
    config.write_text(
        '[server]\ndata_dir = "%s"\nadmins = ["admin@localhost"]\n\n'
        '[c2s]\ninterface = "127.0.0.1"\nport = %d\n\n'
        '[modules.motd]\nmessage = "Hello from the motd plugin"\n' % (tmp_path / "data", port))
    password = tmp_path / "pw"
    password.write_text("pw\n")
    for user in ("admin", "alice", "bob"):
        subprocess.run(XMPPCTL + ["-c", str(config), "adduser", user + "@localhost",
                                  "--password-file", str(password)],
                       check=True, capture_output=True, cwd=tmp_path)
    return config, port


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid):
        slixmpp.ClientXMPP.__init__(self, jid, "pw")
        self.enable_direct_tls = False
        self.enable_plaintext = False
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        self.headlines = asyncio.Queue()
        self.started = asyncio.Event()
        self.add_event_handler("session_start", lambda _: self.started.set())
        self.add_event_handler("message", self.onMessage)
        self.register_plugin("xep_0199")

    def onMessage(self, message):
        if message["type"] == "headline":
            self.headlines.put_nowait(message)

    async def online(self, port):
        self.connect(host="127.0.0.1", port=port)
        await asyncio.wait_for(self.started.wait(), 20)
        self.send_presence()

    async def noHeadlineYet(self):
        """A server ping round trip: a headline sent before it would be here."""
        await self["xep_0199"].ping(jid="localhost", timeout=10)
        return self.headlines.empty()

    def motdIq(self, kind, text=None):
        iq = self.make_iq(ito="localhost", itype=kind)
        element = ET.Element("{%s}motd" % NS_MOTD)
        if text is not None:
            element.text = text
        iq.append(element)
        return iq.send(timeout=10)


async def runningServer(config):
    process = await asyncio.create_subprocess_exec(
        *TWISTD, "--nodaemon", "--pidfile=", "--logfile=-", "xmppd", "--config", str(config),
        cwd=config.parent, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    while True:
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        assert line, "twistd exited before listening"
        if b"ClientStreamFactory starting on" in line:
            return process


@asyncioTest
async def test_motd_once_a_day_and_admins_change_it(server):
    config, port = server
    process = await runningServer(config)
    clients = []
    try:
        alice = Client("alice@localhost/one")
        clients.append(alice)
        await alice.online(port)
        greeting = await asyncio.wait_for(alice.headlines.get(), 10)
        assert greeting["body"] == "Hello from the motd plugin"
        assert greeting["subject"] == "Message of the day"
        assert greeting["from"].bare == "localhost"

        again = Client("alice@localhost/two")
        clients.append(again)
        await again.online(port)
        assert await again.noHeadlineYet(), "the motd is sent once a day"

        with pytest.raises(IqError) as refused:
            await alice.motdIq("set", "alice's motd")
        assert refused.value.condition == "forbidden"

        admin = Client("admin@localhost/console")
        clients.append(admin)
        await admin.online(port)
        await asyncio.wait_for(admin.headlines.get(), 10)
        await admin.motdIq("set", "Maintenance at noon")
        current = await admin.motdIq("get")
        assert current.xml.find("{%s}motd" % NS_MOTD).text == "Maintenance at noon"

        bob = Client("bob@localhost/phone")
        clients.append(bob)
        await bob.online(port)
        news = await asyncio.wait_for(bob.headlines.get(), 10)
        assert news["body"] == "Maintenance at noon"
    finally:
        for client in clients:
            client.disconnect()
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)


def test_plugin_is_found_by_xmppd():
    from xmppd.tap import availableModules
    motd = availableModules()["motd"]
    assert motd.enabledByDefault is False and not motd.builtin
