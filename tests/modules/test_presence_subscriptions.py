"""
Presence subscriptions (RFC 6121 §3) between real clients: cancelling a
subscription both sides had, who gets which roster push, which stanza and
which presence. The handshake itself, denial, pre-approval, requests to
offline or missing accounts and several resources are transcripts
(``transcripts/subscription_*.scs``).
"""

from tests.aio import asyncioTest
from tests.modules.test_roster import (  # noqa: F401  (fixtures)
    expectPresence,
    expectPush,
    expectResult,
    item,
    online,
    roster_config,
    rosterSet,
    subscribeBothWays,
    xmpp,
)

ALICE, BOB = "alice@localhost", "bob@localhost"


@asyncioTest
async def test_contact_cancels_a_subscription_and_the_user_sees_it_go_unavailable(xmpp):
    alice = await online(xmpp, "alice")
    bob = await online(xmpp, "bob")
    await subscribeBothWays(alice, bob)
    bob.sendRaw("<presence to='alice@localhost' type='unsubscribed'/>")
    assert await expectPush(bob) == item(ALICE, subscription="to")
    assert await expectPush(alice) == item(BOB, subscription="from")
    await expectPresence(alice, BOB, "unsubscribed")
    await expectPresence(alice, "bob@localhost/pc", "unavailable", to=ALICE)
    assert await alice.roundTrip() == [] and await bob.roundTrip() == []
    # bob's updates no longer reach alice; alice's still reach bob.
    bob.sendRaw("<presence><status>busy</status></presence>")
    await expectPresence(bob, "bob@localhost/pc")
    assert await alice.roundTrip() == []
    alice.sendRaw("<presence><status>here</status></presence>")
    await expectPresence(alice, "alice@localhost/pc")
    await expectPresence(bob, "alice@localhost/pc")


@asyncioTest
async def test_user_unsubscribes_and_stops_seeing_the_contact(xmpp):
    alice = await online(xmpp, "alice")
    bob = await online(xmpp, "bob")
    await subscribeBothWays(alice, bob)
    alice.sendRaw("<presence to='bob@localhost' type='unsubscribe'/>")
    assert await expectPush(alice) == item(BOB, subscription="from")
    assert await expectPush(bob) == item(ALICE, subscription="to")
    await expectPresence(bob, ALICE, "unsubscribe")
    await expectPresence(alice, "bob@localhost/pc", "unavailable", to=ALICE)
    assert await alice.roundTrip() == [] and await bob.roundTrip() == []


@asyncioTest
async def test_removing_a_contact_cancels_both_subscriptions(xmpp):
    alice = await online(xmpp, "alice")
    bob = await online(xmpp, "bob")
    await subscribeBothWays(alice, bob)
    await rosterSet(alice, "<item jid='bob@localhost' subscription='remove'/>")
    # bob is told both directions are over, and sees alice go away.
    assert await expectPush(bob) == item(ALICE, subscription="to")
    await expectPresence(bob, ALICE, "unsubscribe")
    await expectPresence(bob, "alice@localhost/pc", "unavailable")
    assert await expectPush(bob) == item(ALICE)
    await expectPresence(bob, ALICE, "unsubscribed")
    # alice's roster no longer lists bob, and she stops seeing him.
    assert await expectPush(alice) == (BOB, None, "remove", None, ())
    await expectResult(alice)
    await expectPresence(alice, "bob@localhost/pc", "unavailable")
    assert await alice.roundTrip() == [] and await bob.roundTrip() == []
