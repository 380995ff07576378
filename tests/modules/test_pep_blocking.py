"""
PEP and blocking (XEP-0163 with XEP-0191): alice blocks bob, her contact.
From then on bob hears of none of her nodes — not through his caps'
``+notify``, not through an explicit subscription, not as the last item
when he comes online — and cannot fetch or subscribe to any, open ones
included: to him her account answers ``service-unavailable``, as if it did
not exist (XEP-0191 §3.5). Unblocking gives him back what his subscription
allows.
"""

import xml.etree.ElementTree as ET

from tests.aio import asyncioTest
from tests.modules.pep_transcript import (
    DEVICELIST, NICK, NS_PUBSUB, expectError, expectEvent, expectNoEvents, expectPublished,
    fetchItems, itemsOf, online, publish, publishOptions, requestItems)
from tests.modules.test_blocking import NS_BLOCKING, block, expectUnavailableFrom, iq
from tests.modules.test_disco_parity import ask
from tests.modules.test_roster import subscribeBothWays
from tests.rawclient import NS_CLIENT, q

ALICE = "alice@localhost"
DEVICES = "<list xmlns='eu.siacs.conversations.axolotl'><device id='1'/></list>"


def nick(name):
    return "<nick xmlns='%s'>%s</nick>" % (NICK, name)


def subscribeExplicitly(client, owner, node, iqId):
    return ask(client, iqId, "set", "<pubsub xmlns='%s'><subscribe node='%s' jid='%s'/></pubsub>"
               % (NS_PUBSUB, node, client.jid), to=owner)


@asyncioTest
async def test_a_contact_the_owner_blocked_hears_of_no_node_and_fetches_none(xmpp):
    alice = await online(xmpp, "alice", "phone", notify=[NICK, DEVICELIST])
    bob = await online(xmpp, "bob", "laptop", notify=[NICK, DEVICELIST], answer=False)
    await subscribeBothWays(alice, bob)
    # Before the block: bob hears of alice's nick.
    await expectPublished(alice, publish(alice, NICK, nick("Alice"), "current"), NICK)
    await expectEvent(alice, ALICE, NICK)
    assert itemsOf(await expectEvent(bob, ALICE, NICK))[0][0] == "current"
    # bob's second resource wants nothing by caps but subscribes to the nick.
    desk = await online(xmpp, "bob", "desk", notify=[])
    await expectNoEvents(bob)
    reply = await subscribeExplicitly(desk, ALICE, NICK, "sub1")
    assert reply.get("type") == "result", ET.tostring(reply)
    assert itemsOf(await expectEvent(desk, ALICE, NICK))[0][0] == "current"

    await block(alice, "bob@localhost")
    await expectUnavailableFrom(bob, alice.jid)
    await expectUnavailableFrom(desk, alice.jid)

    # A new nick and an open device list: alice is told, bob is not.
    await expectPublished(alice, publish(alice, NICK, nick("Alice B."), "current"), NICK)
    await expectEvent(alice, ALICE, NICK)
    await expectPublished(alice, publish(alice, DEVICELIST, DEVICES, "current",
                                         publishOptions(access_model="open")), DEVICELIST)
    await expectEvent(alice, ALICE, DEVICELIST)
    await expectNoEvents(bob, desk)

    # Nothing to fetch or subscribe to, whatever the access model.
    await expectError(bob, requestItems(bob, ALICE, NICK), "service-unavailable", "cancel")
    await expectError(bob, requestItems(bob, ALICE, DEVICELIST), "service-unavailable",
                      "cancel")
    reply = await subscribeExplicitly(bob, ALICE, DEVICELIST, "sub2")
    assert reply.get("type") == "error", ET.tostring(reply)
    assert reply.find(q(NS_CLIENT, "error")).find(
        "{urn:ietf:params:xml:ns:xmpp-stanzas}service-unavailable") is not None

    # A resource of bob's that comes online gets no last item of alice's.
    tablet = await online(xmpp, "bob", "tablet", notify=[NICK, DEVICELIST], answer=False)
    await expectNoEvents(tablet, bob, desk)

    # Unblocked, bob is a contact again: he fetches the nick.
    reply = await iq(alice, "u1", "<unblock xmlns='%s'><item jid='bob@localhost'/></unblock>"
                     % NS_BLOCKING)
    assert reply.get("type") == "result", ET.tostring(reply)
    [(itemId, payload)] = await fetchItems(bob, ALICE, NICK)
    assert (itemId, payload.text) == ("current", "Alice B.")


@asyncioTest
async def test_blocking_a_full_jid_silences_that_resource_only(xmpp):
    alice = await online(xmpp, "alice", "phone", notify=[NICK])
    bob = await online(xmpp, "bob", "laptop", notify=[NICK], answer=False)
    await subscribeBothWays(alice, bob)
    other = await online(xmpp, "bob", "desk", notify=[NICK], answer=False)
    await expectNoEvents(bob, other)
    await block(alice, "bob@localhost/laptop")
    await expectUnavailableFrom(bob, alice.jid)

    await expectPublished(alice, publish(alice, NICK, nick("Alice"), "current"), NICK)
    await expectEvent(alice, ALICE, NICK)
    assert itemsOf(await expectEvent(other, ALICE, NICK))[0][0] == "current"
    await expectNoEvents(bob)
    await expectError(bob, requestItems(bob, ALICE, NICK), "service-unavailable")
    assert [i for i, _ in await fetchItems(other, ALICE, NICK)] == ["current"]
