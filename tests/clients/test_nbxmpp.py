"""
nbxmpp (Gajim's library, Debian's python3-nbxmpp on the system Python)
against xmppd over STARTTLS and direct TLS: login, roster, chat, offline
delivery with its delay, message carbons between two resources of one
account, and PEP: a nickname (XEP-0172) and an OMEMO device list published
with nbxmpp's own modules, notified through the caps' ``+notify`` and
fetched by a contact.
"""

import asyncio

import os
import subprocess

import pytest

from tests.aio import asyncioTest, wait
from tests.clients.conftest import HERE, clientEnvironment, requireProgram
from tests.clients.driver import ScriptedClient
from tests.modules.test_time_last_caps import subscribe
from tests.offline.transcript import STAMP

SYSTEM_PYTHON = "/usr/bin/python3"
SCRIPT = os.path.join(HERE, "nbxmpp_client.py")
TRANSPORTS = ["starttls", "direct-tls"]
NICK = "http://jabber.org/protocol/nick"
DEVICELIST = "eu.siacs.conversations.axolotl.devicelist"


def requireNbxmpp():
    python = requireProgram("python3", SYSTEM_PYTHON)
    found = subprocess.run([python, "-c", "import nbxmpp"], capture_output=True)
    if found.returncode != 0:
        requireProgram("python3-nbxmpp", "/nonexistent")
    return python


def nbxmpp(xmpp, transport, user, resource, home, notify=()):
    """An nbxmpp client whose caps ask for ``notify`` (PEP node names)."""
    python = requireNbxmpp()
    port = xmpp.port if transport == "starttls" else xmpp.directTLSPort
    certificate = os.path.join(os.path.dirname(xmpp.caPath), "server.pem")
    return ScriptedClient.start(
        "nbxmpp %s/%s" % (user, resource),
        [python, SCRIPT, "127.0.0.1:%d" % port, transport, user, "secret-" + user, resource,
         certificate, ",".join(notify)],
        clientEnvironment(xmpp, home))


async def availableResources(xmpp, bareJID, count, timeout=10):
    """Once the server sees ``count`` available resources of ``bareJID``."""
    sessions = xmpp.server.sessions
    deadline = asyncio.get_event_loop().time() + timeout
    while len(sessions.availableResources(bareJID)) < count:
        assert asyncio.get_event_loop().time() < deadline, (bareJID, count)
        await asyncio.sleep(0.05)


async def capsKnown(xmpp, fullJID, timeout=10):
    """Once the server has the features of ``fullJID``'s caps (it asked and verified)."""
    from xmppd.pep.caps import ClientCaps
    [caps] = [h for h in xmpp.host() if isinstance(h, ClientCaps)]
    deadline = asyncio.get_event_loop().time() + timeout
    while not caps.features(fullJID):
        assert asyncio.get_event_loop().time() < deadline, fullJID
        await asyncio.sleep(0.05)


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
                            "to": "bob@localhost", "type": "chat", "body": "hello from nbxmpp", "delay": None}
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


@pytest.mark.parametrize("transport", TRANSPORTS)
@asyncioTest
async def test_nbxmpp_resources_with_carbons_see_each_others_conversations(
        trusted_xmpp, transport, tmp_path):
    phone = await nbxmpp(trusted_xmpp, transport, "alice", "phone", tmp_path / "phone")
    desk = await nbxmpp(trusted_xmpp, transport, "alice", "desk", tmp_path / "desk")
    bob = await nbxmpp(trusted_xmpp, transport, "bob", "gajim", tmp_path / "bob")
    try:
        for client in (phone, desk, bob):
            await client.expect("online")
            client.command(carbons=True)
            await client.expect("carbons")
        await availableResources(trusted_xmpp, "alice@localhost", 2)
        await availableResources(trusted_xmpp, "bob@localhost", 1)

        # bob writes to alice's phone: her desk gets a received carbon.
        bob.command(send={"to": "alice@localhost/phone", "body": "to your phone"})
        received = await phone.expect("message")
        assert (received["from"], received["body"]) == ("bob@localhost/gajim", "to your phone")
        copy = await desk.expect("carbon")
        assert (copy["kind"], copy["from"], copy["to"], copy["body"]) == (
            "received", "bob@localhost/gajim", "alice@localhost/phone", "to your phone")

        # alice answers from her phone: her desk gets a sent carbon.
        phone.command(send={"to": "bob@localhost/gajim", "body": "answered from the phone"})
        assert (await bob.expect("message"))["body"] == "answered from the phone"
        copy = await desk.expect("carbon")
        assert (copy["kind"], copy["from"], copy["to"], copy["body"]) == (
            "sent", "alice@localhost/phone", "bob@localhost/gajim", "answered from the phone")
        assert not [e for e in phone.seen if e["event"] == "carbon"], phone.seen
        assert not [e for e in bob.seen if e["event"] == "carbon"], bob.seen
    finally:
        for client in (phone, desk, bob):
            await client.quit()


@pytest.mark.parametrize("transport", TRANSPORTS)
@asyncioTest
async def test_nbxmpp_publishes_a_nickname_and_a_device_list_that_a_contact_is_notified_of(
        trusted_xmpp, transport, tmp_path):
    await subscribe(trusted_xmpp, "alice@localhost", "bob@localhost")
    await subscribe(trusted_xmpp, "bob@localhost", "alice@localhost")
    alice = await nbxmpp(trusted_xmpp, transport, "alice", "gajim", tmp_path / "alice")
    bob = await nbxmpp(trusted_xmpp, transport, "bob", "gajim", tmp_path / "bob",
                       notify=[NICK, DEVICELIST])
    try:
        await alice.expect("online")
        await bob.expect("online")
        # The server asked bob's client about its caps (nbxmpp answers) before
        # anything is published: the +notify is what routes the notification.
        await capsKnown(trusted_xmpp, "bob@localhost/gajim")

        alice.command(nick="Alice in Gajim")
        assert (await alice.expect("published"))["node"] == NICK
        event = await bob.expect("pep")
        assert (event["from"], event["node"], event["id"], event["data"]) == (
            "alice@localhost", NICK, "current", "Alice in Gajim")

        alice.command(devicelist=[1234, 5678])
        assert (await alice.expect("published"))["node"] == DEVICELIST
        event = await bob.expect("pep")
        assert (event["from"], event["node"], event["data"]) == (
            "alice@localhost", DEVICELIST, [1234, 5678])

        # What an OMEMO client does before it writes: fetch the list itself.
        bob.command(items={"node": DEVICELIST, "jid": "alice@localhost"})
        [item] = (await bob.expect("items"))["items"]
        assert item["id"] == "current"
        assert "<device id=\"1234\"" in item["payload"], item
        # alice's own caps want nothing: she is not notified of her own items.
        assert not [e for e in alice.seen if e["event"] == "pep"], alice.seen
    finally:
        await alice.quit()
        await bob.quit()


@pytest.mark.parametrize("transport", TRANSPORTS)
@asyncioTest
async def test_nbxmpp_gets_the_last_published_nickname_when_it_comes_online(
        trusted_xmpp, transport, tmp_path):
    await subscribe(trusted_xmpp, "alice@localhost", "bob@localhost")
    await subscribe(trusted_xmpp, "bob@localhost", "alice@localhost")
    alice = await nbxmpp(trusted_xmpp, transport, "alice", "gajim", tmp_path / "alice")
    try:
        await alice.expect("online")
        alice.command(nick="Alice before you came")
        await alice.expect("published")
        bob = await nbxmpp(trusted_xmpp, transport, "bob", "gajim", tmp_path / "bob",
                           notify=[NICK])
        try:
            await bob.expect("online")
            event = await bob.expect("pep")
        finally:
            await bob.quit()
    finally:
        await alice.quit()
    assert (event["from"], event["node"], event["data"]) == (
        "alice@localhost", NICK, "Alice before you came")
