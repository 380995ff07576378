"""
slixmpp's roster API against xmppd, as a slixmpp bot manages its contacts:
``update_roster`` adds and renames a contact, ``del_roster_item`` removes
it, ``send_presence_subscription`` asks another account (a second slixmpp
client, which approves with its own ``authorize``). Each step is awaited on
slixmpp's events (the roster push it parsed, the subscription request and
authorization), then slixmpp's ``client_roster`` on both sides and the
server's storage are compared.
"""

import asyncio

import slixmpp

from tests.aio import asyncioTest
from tests.clients.test_profanity import storedRoster
from tests.slixclient import connectLocally

TIMEOUT = 20


class RosterClient(slixmpp.ClientXMPP):
    """Gets the roster at login; queues each roster push and subscription event."""

    def __init__(self, jid, password):
        slixmpp.ClientXMPP.__init__(self, jid, password)
        self.auto_authorize = None    # approve by hand, as a person does
        self.auto_subscribe = False
        self.online = asyncio.Event()
        self.pushes = asyncio.Queue()
        self.requests = asyncio.Queue()
        self.authorized = asyncio.Queue()
        self.available = asyncio.Queue()
        self.add_event_handler("session_start", self.onSessionStart)
        # Registered after slixmpp's own handler, so client_roster is updated first.
        self.add_event_handler("roster_update", self.onRosterUpdate)
        self.add_event_handler("roster_subscription_request",
                               lambda presence: self.requests.put_nowait(presence["from"].full))
        self.add_event_handler("roster_subscription_authorized",
                               lambda presence: self.authorized.put_nowait(presence["from"].full))
        self.add_event_handler("got_online", self.onGotOnline)

    async def onSessionStart(self, event):
        await self.get_roster()
        self.send_presence()
        self.online.set()

    def onGotOnline(self, presence):
        if presence["from"].bare != self.boundjid.bare:    # not its own reflection
            self.available.put_nowait(presence["from"].full)

    def onRosterUpdate(self, iq):
        if iq["type"] == "set":
            [(jid, item)] = iq["roster"]["items"].items()
            self.pushes.put_nowait((iq["from"].full, jid.bare, item["name"],
                                    item["subscription"], item["ask"], sorted(item["groups"])))

    def state(self, jid):
        """What slixmpp's client_roster holds for ``jid``, or None."""
        if jid not in self.client_roster.keys():
            return None
        entry = self.client_roster[jid]
        return (entry["name"], sorted(entry["groups"]), entry["subscription"],
                entry["pending_out"])


async def next(queue):
    return await asyncio.wait_for(queue.get(), TIMEOUT)


@asyncioTest
async def test_slixmpp_adds_renames_removes_and_subscribes_with_its_roster_api(xmpp):
    alice = await connectLocally(RosterClient("alice@localhost/slix", "secret-alice"), xmpp.port)
    bob = await connectLocally(RosterClient("bob@localhost/slix", "secret-bob"), xmpp.port)
    try:
        assert alice.state("carol@localhost") is None

        # Add, with a name and a group: slixmpp sends subscription="none",
        # which the server ignores (RFC 6121 §2.1.2.5); its push says
        # subscription="none", as Prosody's and ejabberd's do.
        await alice.update_roster("carol@localhost", name="Carol", groups=["Friends"])
        assert await next(alice.pushes) == (
            "alice@localhost", "carol@localhost", "Carol", "none", "", ["Friends"])
        assert alice.state("carol@localhost") == ("Carol", ["Friends"], "none", False)
        assert await storedRoster(xmpp, "alice@localhost") == [
            ("carol@localhost", "Carol", "none", False)]

        # Rename and move to another group.
        await alice.client_roster.update("carol@localhost", name="Caroline", groups=["Work"])
        assert await next(alice.pushes) == (
            "alice@localhost", "carol@localhost", "Caroline", "none", "", ["Work"])
        assert alice.state("carol@localhost") == ("Caroline", ["Work"], "none", False)
        assert await storedRoster(xmpp, "alice@localhost") == [
            ("carol@localhost", "Caroline", "none", False)]

        # Remove.
        await alice.del_roster_item("carol@localhost")
        assert await next(alice.pushes) == (
            "alice@localhost", "carol@localhost", "", "remove", "", [])
        assert alice.state("carol@localhost") is None
        assert await storedRoster(xmpp, "alice@localhost") == []

        # Subscribe to bob: he gets the request from alice's bare JID, alice's
        # roster shows it pending until bob authorizes.
        alice.send_presence_subscription("bob@localhost")
        assert await next(bob.requests) == "alice@localhost"
        assert await next(alice.pushes) == (
            "alice@localhost", "bob@localhost", "", "none", "subscribe", [])
        # slixmpp's roster handler keeps only items whose subscription it
        # reads as none/to/from/both/remove: with subscription="none" said
        # (RFC 6121 §2.1.2.5 lets it go unsaid) it keeps this push, so its
        # client_roster shows the pending request.
        assert alice.state("bob@localhost") == ("", [], "none", True)
        assert await storedRoster(xmpp, "alice@localhost") == [
            ("bob@localhost", "", "none", True)]

        bob.client_roster["alice@localhost"].authorize()
        assert await next(alice.authorized) == "bob@localhost"
        assert await next(alice.pushes) == (
            "alice@localhost", "bob@localhost", "", "to", "", [])
        assert await next(bob.pushes) == (
            "bob@localhost", "alice@localhost", "", "from", "", [])
        # The subscription brings bob's presence to alice (RFC 6121 §3.1.6).
        assert await next(alice.available) == "bob@localhost/slix"
        assert alice.state("bob@localhost") == ("", [], "to", False)
        assert bob.state("alice@localhost") == ("", [], "from", False)
        assert await storedRoster(xmpp, "alice@localhost") == [("bob@localhost", "", "to", False)]
        assert await storedRoster(xmpp, "bob@localhost") == [
            ("alice@localhost", "", "from", False)]
    finally:
        # Awaited, so that the sessions end before the server stops.
        await asyncio.wait_for(asyncio.gather(alice.disconnect(), bob.disconnect()), TIMEOUT)
