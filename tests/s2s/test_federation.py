"""
Two xmppd processes, a.test and b.test, federating over real s2s streams
on 127.0.0.1: certificates from a test CA, STARTTLS, SASL EXTERNAL.
"""

import xml.etree.ElementTree as ET

from tests.aio import asyncioTest
from tests.offline.transcript import body, expectMessages, send, sendPresence
from tests.rawclient import NS_CLIENT, q


@asyncioTest
async def test_chat_both_ways_between_a_and_b(federate):
    a, b = await federate()
    alice = await a.login("alice")
    bob = await b.login("bob")
    await sendPresence(alice)
    await sendPresence(bob)

    send(alice, "bob@b.test/r1", "m1", "hello from a")
    [received] = await expectMessages(bob, 1)
    assert received.get("from") == "alice@a.test/r1"
    assert received.get("to") == "bob@b.test/r1"
    assert body(received) == "hello from a"

    send(bob, "alice@a.test/r1", "m2", "hello from b")
    [received] = await expectMessages(alice, 1)
    assert received.get("from") == "bob@b.test/r1"
    assert body(received) == "hello from b"
    assert await alice.roundTrip() == []
    assert await bob.roundTrip() == []
    assert a.logged(r"stream from a\.test to b\.test authenticated by certificate")
    assert b.logged(r"stream from b\.test to a\.test authenticated by certificate")
