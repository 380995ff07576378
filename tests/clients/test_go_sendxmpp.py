"""
go-sendxmpp (Debian's, Go's crypto/tls, which offers ALPN) against xmppd,
over STARTTLS and over direct TLS (XEP-0368), verifying the certificate.
"""

import asyncio
import datetime
import re
import xml.etree.ElementTree as ET

import pytest

from tests.aio import asyncioTest, wait
from tests.clients.conftest import clientEnvironment, requireProgram, run, start
from tests.offline.transcript import NS_DELAY, expectMessages, online, send
from tests.rawclient import NS_CLIENT, q

TRANSPORTS = ["starttls", "direct-tls"]
# go-sendxmpp 0.5.6 in --listen mode crashes ("nil pointer dereference" in
# rcvStanzas) on a XEP-0199 ping from its server; xmppd's acknowledgement
# probe is therefore a disco#info query, which it answers (xmppd.sessions).


def sendxmpp(xmpp, transport, user, *args):
    port = xmpp.port if transport == "starttls" else xmpp.directTLSPort
    argv = [requireProgram("go-sendxmpp"), "-u", "%s@localhost" % user,
            "-p", "secret-" + user, "-j", "127.0.0.1:%d" % port, "--timeout", "10"]
    if transport == "direct-tls":
        argv.append("-t")
    return argv + list(args)


@pytest.mark.parametrize("transport", TRANSPORTS)
@asyncioTest
async def test_go_sendxmpp_sends_a_chat_message_to_an_online_contact(trusted_xmpp, transport,
                                                                     tmp_path):
    bob = await online(trusted_xmpp, "bob", "phone")
    result = await run(sendxmpp(trusted_xmpp, transport, "alice", "bob@localhost"),
                       clientEnvironment(trusted_xmpp, tmp_path / "home"),
                       stdin=b"hello from go-sendxmpp\n")
    assert result.returncode == 0, result
    [received] = await expectMessages(bob, 1)
    assert received.get("from").startswith("alice@localhost/")
    assert received.findtext(q(NS_CLIENT, "body")).strip() == "hello from go-sendxmpp"
    await bob.close()


async def listening(xmpp, transport, user, home):
    """``go-sendxmpp --listen`` as ``user``: it prints each message it receives."""
    return await start(sendxmpp(xmpp, transport, user, "--listen"), clientEnvironment(xmpp, home))


async def readLine(process, timeout=15):
    line = await asyncio.wait_for(process.stdout.readline(), timeout)
    assert line, "go-sendxmpp ended: %r" % (await process.stderr.read())
    return line.decode("utf-8", "replace").rstrip("\n")


@pytest.mark.parametrize("transport", TRANSPORTS)
@asyncioTest
async def test_go_sendxmpp_listens_and_prints_a_message_sent_to_it(trusted_xmpp, transport,
                                                                   tmp_path):
    listener = await listening(trusted_xmpp, transport, "bob", tmp_path / "home")
    try:
        alice = await online(trusted_xmpp, "alice", "laptop")
        await asyncio.wait_for(wait(trusted_xmpp.available("bob@localhost")), 15)
        send(alice, "bob@localhost", "m1", "hello listener")
        line = await readLine(listener)
        await alice.close()
    finally:
        listener.kill()
        await listener.wait()
    stamp, rest = line.split(" ", 1)
    assert rest == "alice@localhost: hello listener"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", stamp), line


async def agedOffline(xmpp, recipient, hours):
    """
    Make the messages stored for ``recipient`` look ``hours`` older, stamp and
    row alike, so that a client shows whether it reads the XEP-0203 delay
    (a stamp of the last second could not tell it from the arrival time).
    """
    offline = xmpp.storage.offline
    rows = await wait(offline.listMessages(recipient))
    await wait(offline.purge(recipient))
    stamps = []
    for _, sender, storedAt, expiresAt, xml in rows:
        element = ET.fromstring(xml)
        delay = element.find(q(NS_DELAY, "delay"))
        moment = datetime.datetime.strptime(delay.get("stamp"), "%Y-%m-%dT%H:%M:%S.%fZ")
        older = moment - datetime.timedelta(hours=hours)
        stamp = older.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        stamps.append(stamp)
        xml = xml.replace(delay.get("stamp"), stamp)
        await wait(offline.store(recipient, sender, xml, storedAt - hours * 3600 * 1_000_000,
                                 expiresAt))
    return stamps


@pytest.mark.parametrize("transport", TRANSPORTS)
@asyncioTest
async def test_go_sendxmpp_receives_a_message_stored_offline_with_its_delay(
        trusted_xmpp, transport, tmp_path):
    sent = await run(sendxmpp(trusted_xmpp, transport, "alice", "bob@localhost"),
                     clientEnvironment(trusted_xmpp, tmp_path / "alice"),
                     stdin=b"while you were away\n")
    assert sent.returncode == 0, sent
    [stamp] = await agedOffline(trusted_xmpp, "bob@localhost", hours=3)
    listener = await listening(trusted_xmpp, transport, "bob", tmp_path / "bob")
    try:
        line = await readLine(listener)
        # The row goes once go-sendxmpp answered the probe after the batch:
        # the delivery in bob's lane ends then.
        await asyncio.wait_for(wait(trusted_xmpp.server.pipeline.run(
            "bob@localhost", lambda: None)), 15)
    finally:
        listener.kill()
        await listener.wait()
    # go-sendxmpp prints the delay's stamp (to the second), not its arrival time.
    assert line == "%sZ alice@localhost: while you were away" % stamp[:19]
    assert await wait(trusted_xmpp.storage.offline.listMessages("bob@localhost")) == []
