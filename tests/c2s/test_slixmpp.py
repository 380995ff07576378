"""
A real client library against the server: two slixmpp clients log in with
SCRAM-SHA-256 over STARTTLS, bind, and chat.
"""

import asyncio

import slixmpp

from tests.aio import asyncioTest
from tests.slixclient import connectLocally


class Chatter(slixmpp.ClientXMPP):
    """A slixmpp client that records what it receives, as events to await."""

    def __init__(self, jid, password):
        slixmpp.ClientXMPP.__init__(self, jid, password)
        self.messages = asyncio.Queue()
        self.online = asyncio.Event()
        self.mechanism = None
        self.add_event_handler("session_start", self.onSessionStart)
        self.add_event_handler("message", self.messages.put_nowait)
        self.add_event_handler("auth_success", self.onAuth)

    def onAuth(self, stanza):
        self.mechanism = self.plugin["feature_mechanisms"].mech.name

    async def onSessionStart(self, event):
        self.roster_result = await self.get_roster()
        self.send_presence()
        self.online.set()


def connected(port, jid, password):
    return connectLocally(Chatter(jid, password), port)


@asyncioTest
async def test_two_slixmpp_clients_log_in_over_starttls_and_chat(xmpp):
    alice = await connected(xmpp.port, "alice@localhost/laptop", "secret-alice")
    bob = await connected(xmpp.port, "bob@localhost/phone", "secret-bob")
    try:
        assert alice.mechanism == "SCRAM-SHA-256"
        assert alice.roster_result["type"] == "result"
        assert alice.is_connected() and bob.boundjid.full == "bob@localhost/phone"
        alice.send_message(mto="bob@localhost", mbody="hello from slixmpp", mtype="chat")
        received = await asyncio.wait_for(bob.messages.get(), 10)
        assert received["body"] == "hello from slixmpp"
        assert received["from"].full == "alice@localhost/laptop"
        bob.send_message(mto=received["from"], mbody="hi alice", mtype="chat")
        reply = await asyncio.wait_for(alice.messages.get(), 10)
        assert reply["body"] == "hi alice"
    finally:
        alice.disconnect()
        bob.disconnect()
