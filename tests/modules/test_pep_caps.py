"""
PEP's ``+notify`` through entity capabilities (XEP-0115, XEP-0163 §4.4):
which resource is asked for its features, which answers are cached, and
which resources get a notification.
"""

import xml.etree.ElementTree as ET

from tests.aio import asyncioTest
from tests.modules.pep_transcript import (
    DEVICELIST, NICK, answerCapsQuery, capsElement, capsVer, clientFeatures, expectEvent,
    expectNoEvents, expectPublished, expectStanza, itemsOf, online, publish)
from tests.modules.test_roster import expectPresence, login, rosterGet, subscribeBothWays

ALICE = "alice@localhost"


async def onlineLying(xmpp, name, claimed, answered, resource="pc"):
    """A client whose caps ``ver`` is the hash of ``claimed`` but who answers ``answered``."""
    client = await login(xmpp, name, resource)
    await rosterGet(client)
    client.sendRaw("<presence>%s</presence>" % capsElement(claimed))
    await expectPresence(client, client.jid)
    await answerCapsQuery(client, answered, ver=capsVer(claimed))
    return client


@asyncioTest
async def test_notifications_reach_every_resource_whose_caps_want_the_node(xmpp):
    alice = await online(xmpp, "alice", notify=[DEVICELIST])
    bob = await online(xmpp, "bob", "phone", notify=[DEVICELIST], answer=False)
    await subscribeBothWays(alice, bob)
    # bob's desktop runs other software, which wants nothing: it is asked once.
    desk = await online(xmpp, "bob", "desk", notify=[NICK])
    tablet = await online(xmpp, "bob", "tablet", notify=[DEVICELIST], answer=False)
    await expectNoEvents(alice, bob, desk, tablet)

    await expectPublished(alice, publish(alice, DEVICELIST, "<list xmlns='x'/>", "current"),
                          DEVICELIST)
    await expectEvent(alice, ALICE, DEVICELIST)
    for client in (bob, tablet):
        [(itemId, _)] = itemsOf(await expectEvent(client, ALICE, DEVICELIST))
        assert itemId == "current"
    await expectNoEvents(desk, bob, tablet)


@asyncioTest
async def test_an_answer_that_does_not_match_its_ver_is_not_cached(xmpp):
    claimed = clientFeatures([DEVICELIST])
    # carol's ver claims devicelist+notify; her answer leaves it out.
    carol = await onlineLying(xmpp, "carol", claimed, clientFeatures([]))
    # bob announces the same ver: the server did not keep carol's answer, so it asks him.
    bob = await online(xmpp, "bob", notify=[DEVICELIST])
    # Once bob's answer verified, the next client with that ver is not asked.
    alice = await online(xmpp, "alice", notify=[DEVICELIST], answer=False)
    await expectNoEvents(carol, bob, alice)


@asyncioTest
async def test_the_caps_cache_keeps_only_caps_cache_size_entries(serve):
    xmpp = await serve("sqlite", modules={"pep": {"caps_cache_size": 1}})
    alice = await online(xmpp, "alice", notify=[DEVICELIST])
    bob = await online(xmpp, "bob", notify=[NICK])  # evicts alice's software
    carol = await online(xmpp, "carol", notify=[DEVICELIST])  # so carol is asked again
    dave = await online(xmpp, "dave", notify=[DEVICELIST], answer=False)  # and dave is not
    await expectNoEvents(alice, bob, carol, dave)


@asyncioTest
async def test_new_notify_interest_in_a_presence_update_brings_the_last_item(xmpp):
    alice = await online(xmpp, "alice", notify=[])
    bob = await online(xmpp, "bob", notify=[DEVICELIST])
    await subscribeBothWays(alice, bob)
    nick = "<nick xmlns='%s'>Alice</nick>" % NICK
    await expectPublished(alice, publish(alice, NICK, nick, "current"), NICK)
    await expectNoEvents(bob)

    # bob's client enables nicknames: its caps change in a presence update.
    features = clientFeatures([DEVICELIST, NICK])
    bob.sendRaw("<presence><show>chat</show>%s</presence>" % capsElement(features))
    before = await answerCapsQuery(bob, features)
    assert [e.get("from") for e in before] == [bob.jid]
    message = await expectStanza(bob)
    items = message.find("{http://jabber.org/protocol/pubsub#event}event")[0]
    assert (message.get("from"), items.get("node")) == (ALICE, NICK)
    assert itemsOf(items) == [("current", ET.tostring(ET.fromstring(nick), encoding="unicode"))]
    await expectNoEvents(bob)
