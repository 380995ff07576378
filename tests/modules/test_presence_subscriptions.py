"""
Presence subscriptions (RFC 6121 §3) between real clients: every step of
the handshake, who gets which roster push, which stanza and which presence.
"""

from tests.aio import asyncioTest
from tests.modules.test_roster import (  # noqa: F401  (fixtures)
    expectPresence,
    expectPush,
    expectResult,
    item,
    items,
    login,
    online,
    roster_config,
    rosterGet,
    rosterSet,
    subscribeBothWays,
    xmpp,
)

ALICE, BOB, CAROL = "alice@localhost", "bob@localhost", "carol@localhost"


@asyncioTest
async def test_subscription_handshake_in_both_directions(xmpp):
    alice = await online(xmpp, "alice")
    bob = await online(xmpp, "bob")

    # alice asks to see bob's presence.
    alice.sendRaw("<presence to='bob@localhost' type='subscribe'><status>hi!</status></presence>")
    assert await expectPush(alice) == item(BOB, ask="subscribe")
    request = await expectPresence(bob, ALICE, "subscribe", to=BOB)
    assert request.findtext("{jabber:client}status") == "hi!"

    # bob approves: he now shares ("from"), she now sees ("to") and sees him.
    bob.sendRaw("<presence to='alice@localhost' type='subscribed'/>")
    assert await expectPush(bob) == item(ALICE, subscription="from")
    assert await expectPush(alice) == item(BOB, subscription="to")
    await expectPresence(alice, BOB, "subscribed")
    await expectPresence(alice, "bob@localhost/pc", to=ALICE)

    # And the other way round, ending in "both" on each side.
    bob.sendRaw("<presence to='alice@localhost' type='subscribe'/>")
    assert await expectPush(bob) == item(ALICE, subscription="from", ask="subscribe")
    await expectPresence(alice, BOB, "subscribe")
    alice.sendRaw("<presence to='bob@localhost' type='subscribed'/>")
    assert await expectPush(alice) == item(BOB, subscription="both")
    assert await expectPush(bob) == item(ALICE, subscription="both")
    await expectPresence(bob, ALICE, "subscribed")
    await expectPresence(bob, "alice@localhost/pc", to=BOB)
    assert await alice.roundTrip() == [] and await bob.roundTrip() == []

    # From now on each sees the other's presence updates.
    alice.sendRaw("<presence><show>away</show></presence>")
    await expectPresence(alice, "alice@localhost/pc")
    update = await expectPresence(bob, "alice@localhost/pc", to=BOB)
    assert update.findtext("{jabber:client}show") == "away"


@asyncioTest
async def test_denied_request_leaves_no_subscription(xmpp):
    alice = await online(xmpp, "alice")
    bob = await online(xmpp, "bob")
    alice.sendRaw("<presence to='bob@localhost' type='subscribe'/>")
    await expectPush(alice)
    await expectPresence(bob, ALICE, "subscribe")
    bob.sendRaw("<presence to='alice@localhost' type='unsubscribed'/>")
    # bob had no item for alice: nothing to push to him.
    assert await expectPush(alice) == item(BOB)
    await expectPresence(alice, BOB, "unsubscribed")
    assert await bob.roundTrip() == [] and await alice.roundTrip() == []
    # The denied request is not delivered again at bob's next login.
    await bob.close()
    bob = await online(xmpp, "bob", "again")
    assert await bob.roundTrip() == []


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
async def test_pre_approved_contact_is_subscribed_without_being_asked(xmpp):
    alice = await online(xmpp, "alice")
    bob = await online(xmpp, "bob")
    # §3.4: bob approves before alice asks; nothing is sent to alice yet.
    bob.sendRaw("<presence to='alice@localhost' type='subscribed'/>")
    push = await bob.expect()
    approved = push.find("{jabber:iq:roster}query/{jabber:iq:roster}item")
    assert (approved.get("jid"), approved.get("approved")) == (ALICE, "true")
    bob.sendRaw("<iq type='result' id='%s'/>" % push.get("id"))
    assert await alice.roundTrip() == []

    alice.sendRaw("<presence to='bob@localhost' type='subscribe'/>")
    assert await expectPush(alice) == item(BOB, ask="subscribe")
    assert await expectPush(bob) == item(ALICE, subscription="from")
    assert await expectPush(alice) == item(BOB, subscription="to")
    await expectPresence(alice, BOB, "subscribed")
    await expectPresence(alice, "bob@localhost/pc", to=ALICE)
    # bob never had to answer a request.
    assert await bob.roundTrip() == [] and await alice.roundTrip() == []


@asyncioTest
async def test_request_to_an_offline_user_is_delivered_at_every_login_until_answered(xmpp):
    alice = await online(xmpp, "alice")
    alice.sendRaw("<presence to='carol@localhost' type='subscribe'><status>it is alice</status>"
                  "</presence>")
    await expectPush(alice)
    # A repeated request while the first one waits is not stored twice.
    alice.sendRaw("<presence to='carol@localhost' type='subscribe'/>")
    assert await alice.roundTrip() == []

    carol = await online(xmpp, "carol")
    request = await expectPresence(carol, ALICE, "subscribe", to=CAROL)
    assert request.findtext("{jabber:client}status") == "it is alice"
    assert await carol.roundTrip() == []
    # Nor delivered again to a resource that already has it.
    alice.sendRaw("<presence to='carol@localhost' type='subscribe'/>")
    assert await alice.roundTrip() == [] and await carol.roundTrip() == []

    # Unanswered, it comes again with the next session (§3.1.3)...
    await carol.close()
    carol = await online(xmpp, "carol", "phone")
    await expectPresence(carol, ALICE, "subscribe")
    carol.sendRaw("<presence to='alice@localhost' type='subscribed'/>")
    assert await expectPush(carol) == item(ALICE, subscription="from")
    assert await expectPush(alice) == item(CAROL, subscription="to")
    await expectPresence(alice, CAROL, "subscribed")
    await expectPresence(alice, "carol@localhost/phone")
    # ...and once answered, never again.
    await carol.close()
    await expectPresence(alice, "carol@localhost/phone", "unavailable")
    carol = await online(xmpp, "carol", "tablet")
    assert await carol.roundTrip() == []


@asyncioTest
async def test_request_to_an_account_that_does_not_exist_is_denied(xmpp):
    alice = await online(xmpp, "alice")
    alice.sendRaw("<presence to='nobody@localhost' type='subscribe'/>")
    assert await expectPush(alice) == item("nobody@localhost", ask="subscribe")
    assert await expectPush(alice) == item("nobody@localhost")
    await expectPresence(alice, "nobody@localhost", "unsubscribed")


@asyncioTest
async def test_unsolicited_subscribed_and_unsubscribe_change_nothing(xmpp):
    alice = await online(xmpp, "alice")
    bob = await online(xmpp, "bob")
    # bob "approves" a request alice never made: that is a pre-approval on
    # bob's side, and alice's roster does not gain a subscription.
    bob.sendRaw("<presence to='alice@localhost' type='subscribed'/>")
    await expectPush(bob)
    bob.sendRaw("<presence to='alice@localhost' type='unsubscribe'/>")
    assert await alice.roundTrip() == []
    assert items(await rosterGet(alice, iqId="g2")) == []


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


@asyncioTest
async def test_three_clients_every_resource_follows_the_handshake(xmpp):
    laptop = await online(xmpp, "alice", "laptop")
    phone = await login(xmpp, "alice", "phone")
    await rosterGet(phone)
    phone.sendRaw("<presence/>")
    await expectPresence(laptop, "alice@localhost/phone")
    await expectPresence(phone, "alice@localhost/phone")
    await expectPresence(phone, "alice@localhost/laptop")
    bob = await online(xmpp, "bob")

    bob.sendRaw("<presence to='alice@localhost' type='subscribe'/>")
    await expectPush(bob)
    # Both of alice's available resources get the request...
    await expectPresence(laptop, BOB, "subscribe")
    await expectPresence(phone, BOB, "subscribe")
    # ...one answers, and both get the push.
    phone.sendRaw("<presence to='bob@localhost' type='subscribed'/>")
    for resource in (laptop, phone):
        assert await expectPush(resource) == item(BOB, subscription="from")
    assert await expectPush(bob) == item(ALICE, subscription="to")
    await expectPresence(bob, ALICE, "subscribed")
    # bob now sees both of alice's resources.
    seen = {(await bob.expect()).get("from") for _ in range(2)}
    assert seen == {"alice@localhost/laptop", "alice@localhost/phone"}
    for client in (laptop, phone, bob):
        assert await client.roundTrip() == []
