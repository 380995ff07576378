"""
The digest's store, one test class on every backend a server may run it
on: memory (SQLite in memory), SQLite, MariaDB. The tables come from the
module's own schema deltas, applied as the server applies them.
"""

import pytest
import pytest_twisted

ALICE, BOB, CAROL = "alice@localhost", "bob@localhost", "carol@localhost"


@pytest.fixture(params=["memory", "sqlite", "mysql"])
def store_backend(request):
    return request.param


@pytest_twisted.async_yield_fixture
async def storage(store_backend, make_database):
    """A started registry with the core's stores and the digest's."""
    from xmppd.storage import openStores
    from xmppd_digest import digestModule
    database = await make_database(store_backend)
    registry = openStores(database, [digestModule], [digestModule])
    await registry.start()
    yield registry


def counts(senders):
    return [(sender.jid, sender.messages, sender.lastStored) for sender in senders]


class TestDigestStore:
    @pytest_twisted.ensureDeferred
    async def test_counts_per_sender_most_first_with_the_last_stamp(self, storage):
        digest = storage.digest
        for sender, at in ((CAROL, 10), (ALICE, 11), (CAROL, 12), (ALICE, 13), (CAROL, 14)):
            await digest.count(BOB, sender, at)
        await digest.count(ALICE, BOB, 15)
        assert counts(await digest.senders(BOB)) == [(CAROL, 3, 14), (ALICE, 2, 13)]
        assert counts(await digest.senders(ALICE)) == [(BOB, 1, 15)]
        assert await digest.senders(CAROL) == []

    @pytest_twisted.ensureDeferred
    async def test_equal_counts_are_in_jid_order(self, storage):
        for sender in (CAROL, ALICE):
            await storage.digest.count(BOB, sender, 1)
        assert [s.jid for s in await storage.digest.senders(BOB)] == [ALICE, CAROL]

    @pytest_twisted.ensureDeferred
    async def test_take_returns_the_digest_and_empties_it(self, storage):
        digest = storage.digest
        await digest.count(BOB, ALICE, 1)
        await digest.count(ALICE, BOB, 2)
        assert counts(await digest.take(BOB)) == [(ALICE, 1, 1)]
        assert await digest.take(BOB) == []
        await digest.count(BOB, ALICE, 3)
        assert counts(await digest.senders(BOB)) == [(ALICE, 1, 3)]
        assert counts(await digest.senders(ALICE)) == [(BOB, 1, 2)]

    @pytest_twisted.ensureDeferred
    async def test_reset_says_how_many_senders_it_forgot(self, storage):
        await storage.digest.count(BOB, ALICE, 1)
        await storage.digest.count(BOB, CAROL, 2)
        assert await storage.digest.reset(BOB) == 2
        assert await storage.digest.reset(BOB) == 0

    @pytest_twisted.ensureDeferred
    async def test_an_account_deleted_takes_its_digest_not_its_counts_in_others(self, storage):
        from xmppd.accounts import AccountManager
        accounts = AccountManager(storage)
        await accounts.create(BOB, "secret-bob")
        await storage.digest.count(BOB, ALICE, 1)
        await storage.digest.count(ALICE, BOB, 2)
        await accounts.delete(BOB)
        assert await storage.digest.senders(BOB) == []
        assert counts(await storage.digest.senders(ALICE)) == [(BOB, 1, 2)]
