"""
Storage failure (SPEC §2 rule 8): with MariaDB gone, every message that
could not be stored comes back to its sender as internal-server-error; none
vanishes, and storing works again without a restart once MariaDB is back.
"""

from tests.aio import asyncioTest
from tests.offline.transcript import (
    assertBounce, assertOfflineCopy, connect, expectMessages, expectSilence, leave, online,
    send, settle, storedCount)

BOB = "bob@localhost"


@asyncioTest
async def test_messages_bounce_while_mariadb_is_down_and_store_again_after(serve, mariadb):
    xmpp = await serve("mysql")
    alice = await online(xmpp, "alice")
    send(alice, BOB, "before", "stored before the outage")
    assert await settle(xmpp, "bob", alice) == [[]]
    # Bound without presence: bob's account needs no lookup, so the first
    # messages fail in the offline store itself; after bob's stream is gone,
    # the rest fail in the router's account lookup.
    bound = await connect(xmpp, "bob", "bound")
    mariadb.stop()
    try:
        for n in range(3):
            send(alice, BOB, "down%d" % n, "during the outage %d" % n)
        bounces = await expectMessages(alice, 3)
        await leave(xmpp, bound)
        for n in range(3, 5):
            send(alice, BOB, "down%d" % n, "during the outage %d" % n)
        bounces += await expectMessages(alice, 2)
    finally:
        mariadb.start()
    assert sorted(b.get("id") for b in bounces) == ["down%d" % n for n in range(5)]
    for bounce in bounces:
        n = bounce.get("id")[-1]
        assertBounce(bounce, bounce.get("id"), "internal-server-error", "wait",
                     text="Offline storage failed", sender=BOB,
                     body="during the outage %s" % n)
    await expectSilence(alice)
    send(alice, BOB, "after", "stored after the outage")
    assert await settle(xmpp, "bob", alice) == [[]]
    assert await storedCount(xmpp, "bob") == 2
    bob = await online(xmpp, "bob")
    before, after = await expectMessages(bob, 2)
    assertOfflineCopy(before, "alice@localhost/r1", "before", "stored before the outage")
    assertOfflineCopy(after, "alice@localhost/r1", "after", "stored after the outage")
    await expectSilence(bob)
