"""
Store and delivery racing each other (SPEC §3 "once", §4 atomic limits):
four senders write to bob while bob keeps coming and going. Whatever the
interleaving, no message is lost, each sender's messages arrive in order,
and nothing is left in storage. A message arrives twice only if its first
copy reached a session that closed before acknowledging it (the server
cannot know it was read, so it stores it again: at least once, never lost).
"""

import asyncio

import pytest

from tests.aio import asyncioTest
from tests.conftest import WITH_MEMORY
from tests.offline.transcript import (
    body, leave, online, readUntilDelivered, send, settle, storedCount)
from tests.rawclient import NS_CLIENT, StreamClosed, q

BOB = "bob@localhost"
SENDERS = ("alice", "carol", "dave", "erin")
PER_SENDER = 125
SESSIONS = 10


async def closeReading(client):
    """End the stream and keep what the server wrote before it saw the end."""
    client.sendRaw("</stream:stream>")
    received = []
    try:
        while True:
            received.append(await client.expect())
    except StreamClosed:
        pass
    client.writer.close()
    return received


def messagesIn(elements):
    return [e for e in elements if e.tag == q(NS_CLIENT, "message")]


@pytest.mark.parametrize("backend", WITH_MEMORY)
@asyncioTest
async def test_500_messages_from_4_senders_while_recipient_logs_in_and_out_10_times(
        serve, backend):
    xmpp = await serve(backend, offline={"pair_limit": 1000, "delivery_batch": 20})
    senders = [await online(xmpp, name) for name in SENDERS]
    received = []
    mayRepeat = set()

    async def write(sender):
        for n in range(PER_SENDER):
            send(sender, BOB, "%s-%d" % (sender.name, n), "%s %d" % (sender.name, n))
            if n % 10 == 9:
                # Pace by round trips so the sends spread over bob's sessions.
                assert await sender.roundTrip() == []

    async def comeAndGo():
        for number in range(SESSIONS):
            bob = await online(xmpp, "bob", "s%d" % number)
            received.extend(messagesIn(await bob.roundTrip()))
            received.extend(messagesIn(await bob.roundTrip()))
            received.extend(messagesIn(await closeReading(bob)))
            mayRepeat.update(bob.unacknowledged)

    await asyncio.gather(comeAndGo(), *[write(sender) for sender in senders])
    assert await settle(xmpp, "bob", *senders) == [[]] * len(senders)
    bob = await online(xmpp, "bob", "last")
    received.extend(messagesIn(await readUntilDelivered(xmpp, bob)))
    ids = [m.get("id") for m in received]
    repeated = {i for i in ids if ids.count(i) > 1}
    assert repeated <= mayRepeat, "sent twice though acknowledged: %s" % (repeated - mayRepeat)
    for name in SENDERS:
        got = []
        for m in received:
            if m.get("id").startswith(name + "-") and body(m) not in got:
                got.append(body(m))
        lost = PER_SENDER - len(got)
        assert lost == 0, "%d of %s's messages lost" % (lost, name)
        # In order, but for the copies sent again: drop each first copy of a
        # repeated message and the rest must still be in the sender's order.
        firsts = []
        for m in received:
            if m.get("id").startswith(name + "-"):
                firsts.append(body(m))
        lastCopies = [b for i, b in enumerate(firsts) if b not in firsts[i + 1:]]
        assert lastCopies == ["%s %d" % (name, n) for n in range(PER_SENDER)]
    await leave(xmpp, bob)
    assert await storedCount(xmpp, "bob") == 0
