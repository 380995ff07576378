"""
xmpp.js (@xmpp/client from npm, on Node.js) against xmppd: login over
STARTTLS and direct TLS with the certificate verified, chat, roster, and
offline delivery with its XEP-0203 delay; roster management as an xmpp.js
app does it (iqCaller sets, an iqCallee handler for the pushes), seen by the
account's other resource and in the server's storage.
"""

import os

import pytest

from tests.aio import asyncioTest, wait
from tests.clients.conftest import HERE, clientEnvironment, requireProgram
from tests.clients.driver import ScriptedClient
from tests.clients.test_profanity import nextPush, storedRoster
from tests.modules.test_roster import item
from tests.modules.test_roster import online as rosterOnline
from tests.offline.transcript import STAMP

NODE_DIR = os.path.join(HERE, "node")
TRANSPORTS = ["starttls", "direct-tls"]


def xmppjs(xmpp, transport, user, resource, home):
    node = requireProgram("node")
    script = os.path.join(NODE_DIR, "client.mjs")
    requireProgram("@xmpp/client", os.path.join(NODE_DIR, "node_modules", "@xmpp", "client"))
    if transport == "starttls":
        service = "xmpp://localhost:%d" % xmpp.port
    else:
        service = "xmpps://localhost:%d" % xmpp.directTLSPort
    return ScriptedClient.start(
        "xmpp.js " + user, [node, script, service, "localhost", user, "secret-" + user, resource],
        clientEnvironment(xmpp, home))


@pytest.mark.parametrize("transport", TRANSPORTS)
@asyncioTest
async def test_xmppjs_clients_log_in_and_chat(trusted_xmpp, transport, tmp_path):
    alice = await xmppjs(trusted_xmpp, transport, "alice", "laptop", tmp_path / "alice")
    bob = await xmppjs(trusted_xmpp, transport, "bob", "phone", tmp_path / "bob")
    try:
        assert (await alice.expect("online"))["jid"] == "alice@localhost/laptop"
        assert (await bob.expect("online"))["jid"] == "bob@localhost/phone"
        await wait(trusted_xmpp.available("bob@localhost"))
        alice.command(send={"to": "bob@localhost", "body": "hello from xmpp.js"})
        received = await bob.expect("message")
        assert received == {"event": "message", "from": "alice@localhost/laptop",
                            "type": "chat", "body": "hello from xmpp.js", "delay": None}
        bob.command(roster=True)
        assert (await bob.expect("roster"))["items"] == []
    finally:
        await alice.quit()
        await bob.quit()


@pytest.mark.parametrize("transport", TRANSPORTS)
@asyncioTest
async def test_xmppjs_receives_messages_stored_offline_with_their_delay(trusted_xmpp, transport,
                                                                       tmp_path):
    alice = await xmppjs(trusted_xmpp, transport, "alice", "laptop", tmp_path / "alice")
    try:
        await alice.expect("online")
        alice.command(send={"to": "bob@localhost", "body": "first"})
        alice.command(send={"to": "bob@localhost", "body": "second"})
        await alice.expect("sent")
        await alice.expect("sent")
        await wait(trusted_xmpp.storedOffline("bob@localhost", 2))
        bob = await xmppjs(trusted_xmpp, transport, "bob", "phone", tmp_path / "bob")
        try:
            await bob.expect("online")
            first, second = await bob.expect("message"), await bob.expect("message")
        finally:
            await bob.quit()
    finally:
        await alice.quit()
    assert [first["body"], second["body"]] == ["first", "second"]
    assert first["from"] == "alice@localhost/laptop"
    assert STAMP.match(first["delay"]) and STAMP.match(second["delay"])
    assert first["delay"] <= second["delay"]


def jsItem(jid, name=None, subscription="none", ask=None, groups=()):
    """A roster item as client.mjs prints it."""
    return {"jid": jid, "name": name, "subscription": subscription, "ask": ask,
            "groups": list(groups)}


@pytest.mark.parametrize("transport", TRANSPORTS)
@asyncioTest
async def test_xmppjs_adds_and_removes_a_contact_seeing_the_pushes_the_other_resource_sees(
        trusted_xmpp, transport, tmp_path):
    tablet = await rosterOnline(trusted_xmpp, "alice", "tablet")
    alice = await xmppjs(trusted_xmpp, transport, "alice", "laptop", tmp_path / "alice")
    try:
        await alice.expect("online")
        alice.command(roster=True)
        assert (await alice.expect("roster"))["items"] == []

        alice.command(rosterSet={"jid": "bob@localhost", "name": "Bob", "groups": ["Friends"]})
        added = await alice.expect("roster-set")
        # The item as set, with no subscription yet: Wokkel leaves out
        # subscription="none", its default (RFC 6121 §2.1.2.5).
        assert added["push"] == jsItem("bob@localhost", "Bob", groups=["Friends"])
        assert await nextPush(tablet) == item("bob@localhost", "Bob", groups=["Friends"])
        assert await storedRoster(trusted_xmpp, "alice@localhost") == [
            ("bob@localhost", "Bob", "none", False)]
        alice.command(roster=True)
        assert (await alice.expect("roster"))["items"] == [
            jsItem("bob@localhost", "Bob", groups=["Friends"])]

        alice.command(rosterRemove={"jid": "bob@localhost"})
        removed = await alice.expect("roster-removed")
        assert removed["push"] == jsItem("bob@localhost", subscription="remove")
        assert await nextPush(tablet) == item("bob@localhost", subscription="remove")
        assert await storedRoster(trusted_xmpp, "alice@localhost") == []
        alice.command(roster=True)
        assert (await alice.expect("roster"))["items"] == []
    finally:
        await alice.quit()
        await tablet.close()
    # Both pushes came from the account's bare JID, which the iqCallee
    # handler checks before accepting a push (RFC 6121 §2.1.6).
    pushes = [event for event in alice.seen if event["event"] == "push"]
    assert [push["from"] for push in pushes] == ["alice@localhost", "alice@localhost"]
