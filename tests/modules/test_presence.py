"""
Presence (RFC 6121 §4) between real clients: initial presence and probes,
updates, directed presence, and unavailable when a connection just drops.
"""

import asyncio

import slixmpp

from tests.aio import asyncioTest
from tests.slixclient import connectLocally
from tests.modules.test_roster import (  # noqa: F401  (fixtures)
    NS_ROSTER,
    expectPresence,
    expectPush,
    item,
    login,
    online,
    roster_config,
    rosterGet,
    subscribeBothWays,
    xmpp,
)
from tests.rawclient import NS_CLIENT, q

ALICE, BOB = "alice@localhost", "bob@localhost"


@asyncioTest
async def test_initial_presence_is_answered_with_the_contacts_current_presence(xmpp):
    alice = await online(xmpp, "alice")
    bob = await online(xmpp, "bob")
    await subscribeBothWays(alice, bob)
    bob.sendRaw("<presence><show>dnd</show><status>in a meeting</status></presence>")
    await expectPresence(bob, "bob@localhost/pc")
    await expectPresence(alice, "bob@localhost/pc")
    await alice.close()
    await expectPresence(bob, "alice@localhost/pc", "unavailable")

    # alice comes back: her reflection, then bob's current presence (the
    # probe answered locally), and bob is told she is here.
    alice = await login(xmpp, "alice", "pc")
    await rosterGet(alice)
    alice.sendRaw("<presence/>")
    await expectPresence(alice, "alice@localhost/pc", to="alice@localhost/pc")
    current = await expectPresence(alice, "bob@localhost/pc", to="alice@localhost/pc")
    assert current.findtext(q(NS_CLIENT, "status")) == "in a meeting"
    assert current.findtext(q(NS_CLIENT, "show")) == "dnd"
    assert await alice.roundTrip() == []
    await expectPresence(bob, "alice@localhost/pc", to=BOB)


@asyncioTest
async def test_presence_reaches_subscribers_only(xmpp):
    alice = await online(xmpp, "alice")
    bob = await online(xmpp, "bob")
    carol = await online(xmpp, "carol")
    await subscribeBothWays(alice, bob)
    alice.sendRaw("<presence><status>lunch</status></presence>")
    await expectPresence(alice, "alice@localhost/pc")
    await expectPresence(bob, "alice@localhost/pc")
    assert await carol.roundTrip() == []


@asyncioTest
async def test_probe_is_answered_for_a_subscriber_and_ignored_for_others(xmpp):
    alice = await online(xmpp, "alice")
    bob = await online(xmpp, "bob")
    carol = await online(xmpp, "carol")
    await subscribeBothWays(alice, bob)
    bob.sendRaw("<presence to='alice@localhost' type='probe'/>")
    await expectPresence(bob, "alice@localhost/pc", to=BOB)
    # carol is no subscriber: she learns nothing, not even an error.
    carol.sendRaw("<presence to='alice@localhost' type='probe'/>")
    assert await carol.roundTrip() == []
    assert await alice.roundTrip() == []


@asyncioTest
async def test_dropped_connection_sends_unavailable_to_contacts(xmpp):
    alice = await online(xmpp, "alice")
    bob = await online(xmpp, "bob")
    await subscribeBothWays(alice, bob)
    alice.abort()  # no </stream:stream>, no unavailable presence: the TCP connection is cut
    gone = await expectPresence(bob, "alice@localhost/pc", "unavailable", to=BOB)
    assert gone is not None
    assert await bob.roundTrip() == []


@asyncioTest
async def test_dropped_connection_tells_the_accounts_other_resources(xmpp):
    laptop = await online(xmpp, "alice", "laptop")
    phone = await online(xmpp, "alice", "phone")
    await expectPresence(laptop, "alice@localhost/phone")
    await expectPresence(phone, "alice@localhost/laptop")
    phone.abort()
    await expectPresence(laptop, "alice@localhost/phone", "unavailable")


@asyncioTest
async def test_directed_presence_ends_with_unavailable_when_the_connection_drops(xmpp):
    alice = await online(xmpp, "alice")
    carol = await online(xmpp, "carol")
    alice.sendRaw("<presence to='carol@localhost'><status>for you</status></presence>")
    await expectPresence(carol, "alice@localhost/pc", to="carol@localhost")
    alice.abort()
    await expectPresence(carol, "alice@localhost/pc", "unavailable", to="carol@localhost")
    assert await carol.roundTrip() == []


@asyncioTest
async def test_explicit_unavailable_reaches_contacts_and_directed_presence_once(xmpp):
    alice = await online(xmpp, "alice")
    bob = await online(xmpp, "bob")
    carol = await online(xmpp, "carol")
    await subscribeBothWays(alice, bob)
    alice.sendRaw("<presence to='carol@localhost'/><presence to='bob@localhost/pc'/>")
    await expectPresence(carol, "alice@localhost/pc")
    await expectPresence(bob, "alice@localhost/pc")
    alice.sendRaw("<presence type='unavailable'><status>bye</status></presence>")
    await expectPresence(alice, "alice@localhost/pc", "unavailable")
    bye = await expectPresence(bob, "alice@localhost/pc", "unavailable", to=BOB)
    assert bye.findtext(q(NS_CLIENT, "status")) == "bye"
    await expectPresence(carol, "alice@localhost/pc", "unavailable")
    # bob got it once, as a subscriber, not again for the directed presence.
    assert await bob.roundTrip() == [] and await carol.roundTrip() == []


@asyncioTest
async def test_wire_order_roster_result_presence_contacts_then_offline_messages(xmpp):
    """SPEC §3: roster result → own presence → contacts' presence → offline messages."""
    alice = await online(xmpp, "alice")
    bob = await online(xmpp, "bob")
    await subscribeBothWays(alice, bob)
    await alice.close()
    await expectPresence(bob, "alice@localhost/pc", "unavailable")
    bob.sendRaw("<message to='alice@localhost' type='chat' id='m1'><body>while away</body>"
                "</message>")
    assert await bob.roundTrip() == []

    order = []
    events = xmpp.host().events
    events.hook("resource-available", lambda s: order.append("resource-available"), 100)
    alice = await login(xmpp, "alice", "pc")
    alice.sendRaw("<iq type='get' id='r'><query xmlns='%s'/></iq><presence/>" % NS_ROSTER)
    result = await alice.expect()
    assert (result.get("id"), result.get("type")) == ("r", "result")
    await expectPresence(alice, "alice@localhost/pc")
    await expectPresence(alice, "bob@localhost/pc")
    message = await alice.expect()
    assert message.tag == q(NS_CLIENT, "message") and message.get("id") == "m1"
    assert order == ["resource-available"]


@asyncioTest
async def test_priority_change_fires_priority_changed_after_the_broadcast(xmpp):
    seen = []
    xmpp.host().events.hook("priority-changed", lambda s, old: seen.append((s.priority, old)))
    alice = await online(xmpp, "alice")
    alice.sendRaw("<presence><priority>5</priority></presence>")
    await expectPresence(alice, "alice@localhost/pc")
    assert await alice.roundTrip() == []
    assert seen == [(5, 0)]


class Buddy(slixmpp.ClientXMPP):
    """A slixmpp client that approves every request and records presence."""

    def __init__(self, jid, password):
        slixmpp.ClientXMPP.__init__(self, jid, password)
        self.auto_authorize = True
        self.auto_subscribe = False
        self.online = asyncio.Event()
        self.available = asyncio.Queue()
        self.add_event_handler("session_start", self.onSessionStart)
        self.add_event_handler("presence_available", self.available.put_nowait)

    async def onSessionStart(self, event):
        await self.get_roster()
        self.send_presence()
        self.online.set()


def buddy(port, jid, password):
    return connectLocally(Buddy(jid, password), port)


@asyncioTest
async def test_slixmpp_client_approves_a_raw_clients_request(xmpp):
    bob = await buddy(xmpp.port, "bob@localhost/slix", "secret-bob")
    try:
        alice = await online(xmpp, "alice")
        alice.sendRaw("<presence to='bob@localhost' type='subscribe'/>")
        assert await expectPush(alice) == item(BOB, ask="subscribe")
        # slixmpp answers by itself (auto_authorize).
        assert await expectPush(alice) == item(BOB, subscription="to")
        await expectPresence(alice, BOB, "subscribed")
        await expectPresence(alice, "bob@localhost/slix", to=ALICE)
        # slixmpp also sends its presence to the new subscriber itself.
        await expectPresence(alice, "bob@localhost/slix", to=ALICE)
        assert bob.client_roster[ALICE]["subscription"] == "from"
        # And slixmpp keeps seeing alice once it subscribes back itself.
        bob.send_presence(pto=ALICE, ptype="subscribe")
        await expectPresence(alice, BOB, "subscribe")
        alice.sendRaw("<presence to='bob@localhost' type='subscribed'/>")
        assert await expectPush(alice) == item(BOB, subscription="both")
        senders = []
        while "alice@localhost/pc" not in senders:  # its own reflection comes too
            senders.append((await asyncio.wait_for(bob.available.get(), 10))["from"].full)
        assert set(senders) <= {"alice@localhost/pc", "bob@localhost/slix"}
        assert bob.client_roster[ALICE]["subscription"] == "both"
    finally:
        bob.disconnect()


@asyncioTest
async def test_initial_presence_goes_out_when_the_roster_cannot_be_read(xmpp, monkeypatch):
    from twisted.internet import defer
    store = xmpp.host().storage.roster
    monkeypatch.setattr(store, "initialPresenceView",
                        lambda owner: defer.fail(RuntimeError("roster store down")))
    alice = await login(xmpp, "alice", "pc")
    # No roster get first: the initial presence has to read the roster,
    # and without it the resource is available with no contacts.
    alice.sendRaw("<presence><status>here</status></presence>")
    reflected = await expectPresence(alice, "alice@localhost/pc", to="alice@localhost/pc")
    assert reflected.findtext(q(NS_CLIENT, "status")) == "here"
    assert await alice.roundTrip() == []
    session = xmpp.host().sessions.get("alice@localhost/pc")
    assert session is not None and session.available
    await alice.close()
