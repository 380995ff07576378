"""
PEP across servers (XEP-0163 over s2s, as Prosody does it): alice on a.test
publishes; bob on b.test, her contact both ways, is notified because his
presence, which crosses to alice's bare JID, carries caps that want the
node — a.test asks bob's client what the caps mean, over s2s. A new
resource of bob's gets the last item when its presence reaches a.test;
carol on b.test, no contact of alice's, gets nothing however much her caps
want it; and once alice blocks bob, nothing of hers reaches him.
"""

import xml.etree.ElementTree as ET

from tests.aio import asyncioTest
from tests.modules.pep_transcript import (
    DEVICELIST, NICK, NS_DISCO_INFO, NS_PUBSUB_EVENT, answerCaps, capsElement,
    clientFeatures, publishOptions, requestItems)
from tests.modules.test_blocking import NS_BLOCKING
from tests.modules.test_roster import rosterGet
from tests.rawclient import NS_CLIENT, NS_STANZAS, q
from tests.s2s.test_federation import online

ALICE = "alice@a.test"
BOB = "bob@b.test"


def nick(name):
    return "<nick xmlns='%s'>%s</nick>" % (NICK, name)


async def nextWhere(client, wanted, what):
    """The next stanza ``wanted(element)`` accepts, past the others (acknowledging pushes)."""
    while True:
        element = await client.expect()
        if element.tag == q(NS_CLIENT, "iq") and element.get("type") == "set" and \
                element.find("{jabber:iq:roster}query") is not None:
            client.sendRaw("<iq type='result' id='%s'/>" % element.get("id"))
        if wanted(element):
            return element
        assert element.tag != q(NS_CLIENT, "message"), (what, ET.tostring(element))


def isPresence(sender, kind=None):
    return lambda e: e.tag == q(NS_CLIENT, "presence") and (
        e.get("from"), e.get("type")) == (sender, kind)


def isReply(iqId):
    return lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("id") == iqId


def nickOf(event):
    item = event.find(q(NS_PUBSUB_EVENT, "event")).find(q(NS_PUBSUB_EVENT, "items")).find(
        q(NS_PUBSUB_EVENT, "item"))
    return item.get("id"), item.findtext(q(NICK, "nick"))


def isEvent(owner, node):
    def wanted(e):
        event = e.find(q(NS_PUBSUB_EVENT, "event"))
        return e.tag == q(NS_CLIENT, "message") and e.get("from") == owner and \
            event is not None and event.find(q(NS_PUBSUB_EVENT, "items")).get("node") == node
    return wanted


async def subscribe(user, contact, userBare, contactBare):
    """``user`` asks to see ``contact``'s presence, across the s2s streams; ``contact`` allows."""
    user.sendRaw("<presence to='%s' type='subscribe'/>" % contactBare)
    await nextWhere(contact, isPresence(userBare, "subscribe"), "subscribe")
    contact.sendRaw("<presence to='%s' type='subscribed'/>" % userBare)
    await nextWhere(user, isPresence(contactBare, "subscribed"), "subscribed")


async def fetch(client, owner, node, iqId):
    requestItems(client, owner, node, iqId=iqId)
    return await nextWhere(client, isReply(iqId), "items result")


async def withCaps(client, notify, askedBy=()):
    """
    Announce caps wanting ``notify``, and answer the disco#info question
    about them of each server in ``askedBy`` (whichever asks first).
    """
    features = clientFeatures(notify)
    client.sendRaw("<presence>%s</presence>" % capsElement(features))
    await nextWhere(client, isPresence(client.jid), "own presence")
    waiting = set(askedBy)
    while waiting:
        asked = await nextWhere(client, lambda e: e.tag == q(NS_CLIENT, "iq") and e.get(
            "type") == "get" and e.find(q(NS_DISCO_INFO, "query")) is not None, "caps query")
        server = asked.get("from")
        assert server in waiting, ET.tostring(asked)
        waiting.discard(server)
        answerCaps(client, asked, features)
    return features


@asyncioTest
async def test_a_remote_contact_is_notified_and_gets_last_items_and_not_once_blocked(federate):
    a, b = await federate(users={"a.test": ["alice"], "b.test": ["bob", "carol"]})
    alice = await online(a, "alice")
    bob = await online(b, "bob")
    # bob first asks for alice's presence, then she for his: when bob allows
    # her, his presence crosses to alice@a.test from a contact of hers.
    await subscribe(bob, alice, BOB, ALICE)
    await subscribe(alice, bob, ALICE, BOB)

    # bob's client wants nicknames: a.test, which has never seen its caps,
    # asks it across the s2s stream what they mean.
    await withCaps(bob, [NICK, DEVICELIST], askedBy=["a.test", "b.test"])

    alice.sendRaw("<iq type='set' id='pub1'><pubsub xmlns='http://jabber.org/protocol/pubsub'>"
                  "<publish node='%s'><item id='current'>%s</item></publish></pubsub></iq>"
                  % (NICK, nick("Alice")))
    await nextWhere(alice, isReply("pub1"), "publish result")
    event = await nextWhere(bob, isEvent(ALICE, NICK), "nick event")
    assert (event.get("to"), event.get("type")) == ("bob@b.test/r1", "headline")
    assert nickOf(event) == ("current", "Alice")

    # bob fetches it himself over s2s: a presence-model node, and he is a contact.
    reply = await fetch(bob, ALICE, NICK, "f1")
    assert reply.get("type") == "result", ET.tostring(reply)

    # bob's tablet runs the same software (a.test knows the caps, asks
    # nothing): its presence reaching alice brings the last nick.
    tablet = await b.login("bob", "tablet")
    await rosterGet(tablet)
    await withCaps(tablet, [NICK, DEVICELIST])
    event = await nextWhere(tablet, isEvent(ALICE, NICK), "last nick")
    assert (event.get("to"), nickOf(event)) == ("bob@b.test/tablet", ("current", "Alice"))

    # carol is nobody to alice: her caps want everything, she gets nothing.
    # (Her refused fetch proves a.test had her presence, sent before it.)
    carol = await online(b, "carol")
    carol.sendRaw("<presence to='%s'>%s</presence>" % (
        ALICE, capsElement(clientFeatures([NICK, DEVICELIST]))))
    reply = await fetch(carol, ALICE, NICK, "f2")
    error = reply.find(q(NS_CLIENT, "error"))
    assert error is not None and error.find(q(NS_STANZAS, "forbidden")) is not None, \
        ET.tostring(reply)
    alice.sendRaw("<iq type='set' id='pub2'><pubsub xmlns='http://jabber.org/protocol/pubsub'>"
                  "<publish node='%s'><item id='current'><list xmlns='urn:example'/></item>"
                  "</publish>%s</pubsub></iq>"
                  % (DEVICELIST, publishOptions(access_model="open")))
    await nextWhere(alice, isReply("pub2"), "publish result")
    await nextWhere(bob, isEvent(ALICE, DEVICELIST), "devicelist event")
    await nextWhere(tablet, isEvent(ALICE, DEVICELIST), "devicelist event")
    # Notifications to b.test leave in one go, so hers would have come by
    # now; nextWhere fails on a message. An open node she may fetch.
    reply = await fetch(carol, ALICE, DEVICELIST, "f3")
    assert reply.get("type") == "result", ET.tostring(reply)

    # alice blocks bob: he is told she is gone, and hears of nothing more.
    alice.sendRaw("<iq type='set' id='b1'><block xmlns='%s'><item jid='%s'/></block></iq>"
                  % (NS_BLOCKING, BOB))
    await nextWhere(alice, isReply("b1"), "block result")
    await nextWhere(bob, isPresence("alice@a.test/r1", "unavailable"), "unavailable")
    alice.sendRaw("<iq type='set' id='pub3'><pubsub xmlns='http://jabber.org/protocol/pubsub'>"
                  "<publish node='%s'><item id='current'>%s</item></publish></pubsub></iq>"
                  % (NICK, nick("Alice, blocking")))
    await nextWhere(alice, isReply("pub3"), "publish result")
    # Two round trips each through a.test: time enough for a notification.
    for client, iqId in ((bob, "f4"), (tablet, "f5"), (bob, "f6")):
        reply = await fetch(client, ALICE, NICK, iqId)
        error = reply.find(q(NS_CLIENT, "error"))
        assert error is not None and error.find(q(NS_STANZAS, "service-unavailable")) \
            is not None, ET.tostring(reply)
