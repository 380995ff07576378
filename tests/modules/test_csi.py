"""
Client State Indication (XEP-0352): while bob's phone is inactive, presence
and chat states wait; a message with a body brings them all, in order,
before itself; <active/> flushes the rest. Nothing is lost or reordered,
and offline delivery at login keeps its order with CSI on.
"""

import xml.etree.ElementTree as ET

import pytest

from tests.aio import asyncioTest
from tests.offline.transcript import body, connect, online, send, sendPresence, settle
from tests.rawclient import NS_CLIENT, q

NS_CSI = "urn:xmpp:csi:0"
CHATSTATE = "<composing xmlns='http://jabber.org/protocol/chatstates'/>"


@asyncioTest
async def test_inactive_client_gets_presence_and_chat_states_only_with_the_next_message(serve):
    xmpp = await serve("sqlite")
    bob = await connect(xmpp, "bob", "phone")
    features = bob.features
    assert features.find(q(NS_CSI, "csi")) is not None, ET.tostring(features)
    await sendPresence(bob)
    alice = await online(xmpp, "alice")
    bob.sendRaw("<inactive xmlns='%s'/>" % NS_CSI)
    # alice's presence reaches bob only through a subscription; use directed presence.
    alice.sendRaw("<presence to='bob@localhost/phone'><show>away</show></presence>")
    send(alice, "bob@localhost/phone", "cs1", type="chat", payload=CHATSTATE)
    assert await alice.roundTrip() == []
    # Both wait in bob's session (an IQ answer to bob would bring them: it
    # cannot wait, and nothing overtakes what waits).
    session = xmpp.host().sessions.get(bob.jid)
    assert [s.name for s in session._deferred] == ["presence", "message"]
    send(alice, "bob@localhost/phone", "m1", "wake up")
    arrived = [await bob.expect() for _ in range(3)]
    assert [(e.tag, e.get("id")) for e in arrived] == [
        (q(NS_CLIENT, "presence"), None), (q(NS_CLIENT, "message"), "cs1"),
        (q(NS_CLIENT, "message"), "m1")]
    alice.sendRaw("<presence to='bob@localhost/phone'/>")
    assert await alice.roundTrip() == []
    assert [s.name for s in session._deferred] == ["presence"]
    bob.sendRaw("<active xmlns='%s'/>" % NS_CSI)
    flushed = await bob.expect()
    assert flushed.tag == q(NS_CLIENT, "presence") and flushed.get("from") == "alice@localhost/r1"


@pytest.mark.parametrize("backend", ["sqlite", "mysql"])
@asyncioTest
async def test_offline_delivery_keeps_its_order_for_an_inactive_client(serve, backend):
    xmpp = await serve(backend)
    alice = await online(xmpp, "alice")
    for n in range(5):
        send(alice, "bob@localhost", "m%d" % n, "stored %d" % n)
    assert await settle(xmpp, "bob", alice) == [[]]
    bob = await connect(xmpp, "bob", "phone")
    bob.sendRaw("<inactive xmlns='%s'/><presence/>" % NS_CSI)
    send(alice, "bob@localhost", "live", "live one")
    received = []
    while len(received) < 6:
        element = await bob.expect()
        if element.tag == q(NS_CLIENT, "message"):
            received.append(body(element))
    assert received == ["stored %d" % n for n in range(5)] + ["live one"]
