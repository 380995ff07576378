"""
Carbons (XEP-0280) transcripts: bob has a phone and a laptop; the laptop
enables carbons and sees both sides of the phone's conversation with alice,
but never a copy of what came from offline storage, of an error, or of a
message marked private.
"""

import xml.etree.ElementTree as ET

from tests.aio import asyncioTest
from tests.offline.transcript import body, connect, online, send, sendPresence, settle
from tests.rawclient import NS_CLIENT, q

NS_CARBONS = "urn:xmpp:carbons:2"
NS_FORWARD = "urn:xmpp:forward:0"


async def enableCarbons(client):
    client.sendRaw("<iq type='set' id='c1'><enable xmlns='%s'/></iq>" % NS_CARBONS)
    reply = await client.expect()
    assert reply.get("type") == "result" and reply.get("id") == "c1", ET.tostring(reply)


def forwarded(carbon, kind):
    assert carbon.get("from") == "bob@localhost", ET.tostring(carbon)
    wrapper = carbon.find(q(NS_CARBONS, kind))
    assert wrapper is not None, ET.tostring(carbon)
    return wrapper.find(q(NS_FORWARD, "forwarded")).find(q(NS_CLIENT, "message"))


async def nextMessage(client):
    while True:
        element = await client.expect()
        if element.tag == q(NS_CLIENT, "message"):
            return element


async def bobsPhoneAndCarbonLaptop(xmpp):
    """alice online; bob's phone at priority 10, his laptop at 0 with carbons on."""
    alice = await online(xmpp, "alice")
    phone = await online(xmpp, "bob", "phone", priority=10)
    laptop = await connect(xmpp, "bob", "laptop")
    await enableCarbons(laptop)
    await sendPresence(laptop, priority=0)
    return alice, phone, laptop


@asyncioTest
async def test_laptop_gets_received_and_sent_copies_of_the_phones_chat(serve):
    xmpp = await serve("sqlite")
    alice, phone, laptop = await bobsPhoneAndCarbonLaptop(xmpp)
    send(alice, "bob@localhost", "a1", "hi bob")
    original = await nextMessage(phone)
    assert body(original) == "hi bob"
    copy = forwarded(await nextMessage(laptop), "received")
    assert (copy.get("id"), copy.get("from"), body(copy)) == ("a1", "alice@localhost/r1", "hi bob")
    send(phone, "alice@localhost", "b1", "hi alice")
    assert body(await nextMessage(alice)) == "hi alice"
    sent = forwarded(await nextMessage(laptop), "sent")
    assert (sent.get("id"), sent.get("to"), body(sent)) == ("b1", "alice@localhost", "hi alice")
    # <private/> and errors are never copied.
    send(alice, "bob@localhost", "a2", "just the phone", payload="<private xmlns='%s'/>" % NS_CARBONS)
    assert body(await nextMessage(phone)) == "just the phone"
    assert await laptop.roundTrip() == []


@asyncioTest
async def test_resource_without_carbons_gets_no_copies(serve):
    xmpp = await serve("sqlite")
    alice = await online(xmpp, "alice")
    phone = await online(xmpp, "bob", "phone", priority=10)
    laptop = await online(xmpp, "bob", "laptop", priority=0)
    send(alice, "bob@localhost", "a1", "hi")
    assert body(await nextMessage(phone)) == "hi"
    assert [e.tag for e in await laptop.roundTrip()] in ([], [q(NS_CLIENT, "presence")])


@asyncioTest
async def test_offline_delivery_is_not_copied_to_a_carbons_resource(serve):
    xmpp = await serve("sqlite")
    alice = await online(xmpp, "alice")
    laptop = await connect(xmpp, "bob", "laptop")
    await enableCarbons(laptop)
    await sendPresence(laptop, priority=-1)
    send(alice, "bob@localhost", "a1", "while you were away")
    assert await settle(xmpp, "bob", alice) == [[]]
    phone = await online(xmpp, "bob", "phone", priority=5)
    stored = await nextMessage(phone)
    assert stored.find("{urn:xmpp:delay}delay") is not None
    assert [e.tag for e in await laptop.roundTrip()] in ([], [q(NS_CLIENT, "presence")])


async def disableCarbons(client):
    client.sendRaw("<iq type='set' id='c2'><disable xmlns='%s'/></iq>" % NS_CARBONS)
    reply = await client.expect()
    assert reply.get("type") == "result" and reply.get("id") == "c2", ET.tostring(reply)


@asyncioTest
async def test_copies_stop_when_carbons_are_disabled_or_the_resource_comes_back_without_them(serve):
    xmpp = await serve("sqlite")
    alice, phone, laptop = await bobsPhoneAndCarbonLaptop(xmpp)
    send(alice, "bob@localhost", "a1", "copied")
    assert body(await nextMessage(phone)) == "copied"
    assert body(forwarded(await nextMessage(laptop), "received")) == "copied"
    await disableCarbons(laptop)
    send(alice, "bob@localhost", "a2", "not copied")
    assert body(await nextMessage(phone)) == "not copied"
    assert [e.tag for e in await laptop.roundTrip()] == []
    # Enabled again, then the laptop leaves: its return without carbons
    # gets nothing, the tablet that enables them does.
    await enableCarbons(laptop)
    await laptop.close()
    laptop = await online(xmpp, "bob", "laptop", priority=0)
    tablet = await connect(xmpp, "bob", "tablet")
    await enableCarbons(tablet)
    await sendPresence(tablet, priority=0)
    send(alice, "bob@localhost", "a3", "for the tablet")
    assert body(await nextMessage(phone)) == "for the tablet"
    assert body(forwarded(await nextMessage(tablet), "received")) == "for the tablet"
    assert [e.tag for e in await laptop.roundTrip()
            if e.tag != q(NS_CLIENT, "presence")] == []
