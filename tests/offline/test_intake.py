"""
Bounded intake: a sender whose messages wait in memory on their way to
storage is not read from until the backlog shrinks, so what the server has
accepted and not yet made durable stays small however fast it writes.
"""

import pytest

from tests.aio import asyncioTest
from tests.conftest import WITH_MEMORY
from tests.offline.transcript import message, online, settle, storedCount
from xmppd.sessions import INTAKE_HIGH

BOB = "bob@localhost"
# Under the default cap of 1,000 on a user's queue.
BURST = 900


@pytest.mark.parametrize("backend", WITH_MEMORY)
@asyncioTest
async def test_a_burst_to_an_offline_user_waits_in_the_socket_not_in_memory(serve, backend):
    xmpp = await serve(backend, offline={"pair_limit": BURST})
    lanes = xmpp.server.pipeline
    deepest = []

    def onStored(offlineMessage, rowId):
        deepest.append(len(lanes._queues.get(BOB, ())))

    xmpp.host().events.hook("offline/stored", onStored)
    alice = await online(xmpp, "alice")
    alice.sendRaw("".join(message(BOB, "m%d" % n, "burst %d" % n) for n in range(BURST)))
    assert await settle(xmpp, "bob", alice) == [[]]
    assert await storedCount(xmpp, "bob") == BURST
    assert len(deepest) == BURST
    # The messages read but not stored yet never pass the bound by more than
    # the few that one slice of parsed input holds (xmppd.c2s.stream).
    assert max(deepest) <= INTAKE_HIGH + 50, max(deepest)


@pytest.mark.parametrize("backend", WITH_MEMORY)
@asyncioTest
async def test_client_that_answers_no_probe_is_closed_and_its_messages_are_stored(serve, backend):
    from tests.rawclient import RawClient
    xmpp = await serve(backend, c2s={"max_unacknowledged": 20, "ping_timeout": "1s"})
    alice = await online(xmpp, "alice")
    deaf = await RawClient.connect(xmpp.port, answerPings=False)
    await deaf.login("bob", "secret-bob", "deaf")
    deaf.sendRaw("<presence/>")
    alice.sendRaw("".join(message(BOB, "m%d" % n, "unheard %d" % n) for n in range(30)))
    await deaf.expectClosed()
    assert await settle(xmpp, "bob", alice) == [[]]
    # Whether it was closed for the unanswered probe or for 21 messages
    # unacknowledged, all 30 are stored: those written to it and the rest.
    assert await storedCount(xmpp, "bob") == 30
