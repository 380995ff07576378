"""
A login whose queue a delivery already found empty does not read it again
(xmppd.offline.emptiness), and a message stored meanwhile is never hidden by
that knowledge: bob comes and goes while alice writes to him.
"""

import asyncio

import pytest

from xmppd.offline.emptiness import EmptyQueues

from tests.aio import asyncioTest, wait
from tests.conftest import WITH_MEMORY
from tests.offline.transcript import expectMessages, leave, online, send, settle, storedCount
from tests.rawclient import TIMEOUT

BOB = "bob@localhost"
BACKENDS = pytest.mark.parametrize("backend", WITH_MEMORY)


def reads(xmpp, backend):
    value = xmpp.host().metricsRegistry.get_sample_value
    return value("xmppd_offline_pop_seconds_count", {"backend": backend}) or 0


@BACKENDS
@asyncioTest
async def test_a_second_login_with_nothing_stored_reads_no_queue(serve, backend):
    xmpp = await serve(backend)
    bob = await online(xmpp, "bob", "first")
    assert await storedCount(xmpp, "bob") == 0
    await leave(xmpp, bob)
    before = reads(xmpp, backend)
    assert before >= 1

    bob = await online(xmpp, "bob", "second")
    assert await bob.roundTrip() == []
    await settle(xmpp, "bob", bob)
    assert reads(xmpp, backend) == before
    await leave(xmpp, bob)


@BACKENDS
@asyncioTest
async def test_a_message_stored_after_an_empty_login_is_delivered_at_the_next(serve, backend):
    xmpp = await serve(backend)
    alice = await online(xmpp, "alice")
    for turn in range(3):
        bob = await online(xmpp, "bob", "r%d" % turn)
        assert await bob.roundTrip() == []
        await leave(xmpp, bob)
        send(alice, BOB, "m%d" % turn, "stored while bob was away, turn %d" % turn)
        assert await settle(xmpp, "bob", alice) == [[]]
        assert await storedCount(xmpp, "bob") == 1
        bob = await online(xmpp, "bob", "again%d" % turn)
        [received] = await expectMessages(bob, 1)
        assert received.get("id") == "m%d" % turn
        await leave(xmpp, bob)
    assert await storedCount(xmpp, "bob") == 0


@BACKENDS
@asyncioTest
async def test_a_message_on_its_way_to_storage_at_login_is_delivered_in_that_login(
        serve, backend):
    """
    bob's queue is known empty, but alice's message (AMP rules on it: the
    router checks bob's account before the insert) is still in bob's lane,
    its account check held, when bob's next initial presence comes: the
    delivery waits behind it instead of skipping the known-empty queue.
    """
    from twisted.internet import defer

    from tests.modules.test_amp import ampMessage, rule
    xmpp = await serve(backend)
    alice = await online(xmpp, "alice")
    bob = await online(xmpp, "bob", "first")
    await leave(xmpp, bob)
    host = xmpp.host()
    asked, checked = defer.Deferred(), defer.Deferred()
    isLocalUser = host.isLocalUser

    def heldLookup(jid):
        if asked.called:
            # The memory backend's insert asks again, after the router.
            return isLocalUser(jid)
        asked.callback(jid.userhost())
        return checked.addCallback(lambda _: isLocalUser(jid))

    host.isLocalUser = heldLookup
    try:
        alice.sendRaw(ampMessage(BOB, [rule("drop", "expire-at", "2999-01-01T00:00:00Z")],
                                 id="held"))
        assert await asyncio.wait_for(wait(asked), TIMEOUT) == BOB
        bob = await online(xmpp, "bob", "second")
        checked.callback(None)
        [received] = await expectMessages(bob, 1)
    finally:
        del host.isLocalUser
    assert received.get("id") == "held"
    assert await storedCount(xmpp, "bob") == 0
    await leave(xmpp, bob)


def test_a_read_that_began_while_a_message_was_being_written_proves_nothing():
    queues = EmptyQueues()
    queues.writing("bob@localhost")
    token = queues.beforeRead()
    queues.written()
    queues.foundEmpty("bob@localhost", token)
    assert not queues.knownEmpty("bob@localhost")


def test_a_message_written_during_the_read_keeps_the_queue_unknown():
    queues = EmptyQueues()
    token = queues.beforeRead()
    queues.writing("carol@localhost")
    queues.written()
    queues.foundEmpty("bob@localhost", token)
    assert not queues.knownEmpty("bob@localhost")


def test_a_write_forgets_what_was_known():
    queues = EmptyQueues()
    queues.foundEmpty("bob@localhost", queues.beforeRead())
    assert queues.knownEmpty("bob@localhost")
    queues.writing("bob@localhost")
    assert not queues.knownEmpty("bob@localhost")
    queues.written()
    assert not queues.knownEmpty("bob@localhost")


def test_the_knowledge_is_bounded_and_off_on_a_cluster():
    queues = EmptyQueues(limit=3)
    for n in range(5):
        queues.foundEmpty("u%d@localhost" % n, queues.beforeRead())
    assert [queues.knownEmpty("u%d@localhost" % n) for n in range(5)] == [
        False, False, True, True, True]
    clustered = EmptyQueues(enabled=False)
    clustered.foundEmpty("bob@localhost", clustered.beforeRead())
    assert not clustered.knownEmpty("bob@localhost")
