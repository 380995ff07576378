"""
The offline queue, one contract held on memory, SQLite and MariaDB: order,
expiry, exact deletes, and limits -- the SQL ones also exactly under
concurrent stores. Both queues are held to it: the offline module's own,
and the archive's (mam's ``offline_in_archive``; its rows here hold their
copy, since nothing was archived: tests/storage/test_archive_queue.py has
the references).
"""

import time

import pytest
import pytest_twisted
from twisted.internet import defer

from xmppd.api import IOfflineQueue
from xmppd.mam.queue import ArchiveQueue
from xmppd.offline.memory import MemoryOfflineStore
from xmppd.offline.store import OfflineStore, exceededLimit
from xmppd.storage import QuotaExceeded, StorageError, UnknownUser

ALICE = "alice@example.org"
BOB = "bob@example.org"
CAROL = "carol@example.org"
NOW = 1_700_000_000_000_000


def message(n):
    return "<message to='%s' id='m%d'><body>%d</body></message>" % (ALICE, n, n)


QUEUES = ["own", "archive"]


@pytest.fixture(params=QUEUES, ids=QUEUES)
def queue_kind(request):
    return request.param


@pytest_twisted.async_yield_fixture
async def stores(store_backend, make_database, queue_kind):
    """The contract's registry (see conftest), with mam's tables for its queue."""
    from xmppd.storage import openStores
    from xmppd.tap import availableModules
    installed = availableModules()
    names = ["offline", "last"] + (["mam"] if queue_kind == "archive" else [])
    database = await make_database(store_backend)
    registry = openStores(database, [installed[name] for name in names])
    await registry.start()
    yield registry


@pytest.fixture
def offline(stores, queue_kind):
    return stores.offline if queue_kind == "own" else stores.mam_offline


async def storeSeveral(offline, count, recipient=ALICE, sender=BOB, **options):
    ids = []
    for n in range(count):
        ids.append(await offline.store(recipient, sender, message(n), NOW + n, **options))
    return ids


class TestOfflineStore:
    @pytest_twisted.ensureDeferred
    async def test_a_burst_to_several_recipients_keeps_each_ones_arrival_order(self, offline):
        # Asked all at once, as the lanes do: written in batches on SQL.
        calls = [(recipient, n) for n in range(60) for recipient in (ALICE, CAROL)]
        ids = await defer.gatherResults(
            [offline.store(recipient, BOB, message(n), NOW + n) for recipient, n in calls])
        assert len(set(ids)) == len(ids) and ids == sorted(ids)
        for recipient in (ALICE, CAROL):
            rows = await offline.listMessages(recipient)
            assert [row[0] for row in rows] == [
                rowId for (to, _n), rowId in zip(calls, ids) if to == recipient]
            assert [row[4] for row in rows] == [message(n) for n in range(60)]

    @pytest_twisted.ensureDeferred
    async def test_a_row_the_database_refuses_fails_alone_among_those_asked_with_it(
            self, offline, store_backend):
        if store_backend == "memory":
            pytest.skip("the memory queue checks no column")
        calls = [offline.store(ALICE, BOB, message(n), None if n == 3 else NOW + n)
                 for n in range(8)]
        results = await defer.DeferredList(calls, consumeErrors=True)
        assert [ok for ok, _ in results] == [True] * 3 + [False] + [True] * 4
        assert results[3][1].check(StorageError)
        rows = await offline.listMessages(ALICE)
        assert [row[4] for row in rows] == [message(n) for n in range(8) if n != 3]

    def test_the_backend_has_its_own_offline_store(self, offline, store_backend, queue_kind):
        expected = MemoryOfflineStore if store_backend == "memory" else OfflineStore
        if queue_kind == "archive":
            # On an SQLite database in memory under "memory", like the archive.
            expected = ArchiveQueue
        assert type(offline) is expected
        assert IOfflineQueue.providedBy(offline)

    @pytest_twisted.ensureDeferred
    async def test_export_and_adopt_hand_every_row_over_in_order(self, offline):
        first = await offline.store(ALICE, BOB, message(1), NOW, expiresAt=NOW + 5)
        second = await offline.store(CAROL, BOB, message(2), NOW + 1)
        third = await offline.store(ALICE, CAROL, message(3), NOW + 2, expiresAt=NOW - 1)
        assert await offline.export() == [
            (first, ALICE, BOB, NOW, NOW + 5, message(1)),
            (second, CAROL, BOB, NOW + 1, None, message(2)),
            (third, ALICE, CAROL, NOW + 2, NOW - 1, message(3))]
        assert [row[0] for row in await offline.export(afterId=first, limit=1)] == [second]
        assert await offline.adopt([(ALICE, "dave@example.org", NOW - 9, None, message(4)),
                                    (ALICE, BOB, NOW - 8, NOW + 9, message(5))]) == 2
        assert await offline.adopt([]) == 0
        rows = await offline.listMessages(ALICE)
        assert [(row[1], row[2], row[3], row[4]) for row in rows] == [
            (BOB, NOW, NOW + 5, message(1)), (CAROL, NOW + 2, NOW - 1, message(3)),
            ("dave@example.org", NOW - 9, None, message(4)), (BOB, NOW - 8, NOW + 9, message(5))]
        # Adopted rows count against the limits like any other.
        with pytest.raises(QuotaExceeded):
            await offline.store(ALICE, BOB, message(6), NOW, userLimit=4)

    @pytest_twisted.ensureDeferred
    async def test_would_exceed_looks_ahead_with_the_rule_of_the_insert(self, offline):
        assert await offline.wouldExceed(ALICE, BOB, pairLimit=2, userLimit=3) is None
        await storeSeveral(offline, 2)
        assert await offline.wouldExceed(ALICE, BOB, pairLimit=2, userLimit=3) == "pair"
        assert await offline.wouldExceed(ALICE, CAROL, pairLimit=2, userLimit=3) is None
        await offline.store(ALICE, CAROL, message(3), NOW)
        assert await offline.wouldExceed(ALICE, CAROL, pairLimit=2, userLimit=3) == "user"
        assert await offline.wouldExceed(ALICE, CAROL) is None
        assert await offline.wouldExceed(CAROL, BOB, pairLimit=0) == "pair"
        assert await offline.wouldExceed(CAROL, BOB, userLimit=0) == "user"
        # Nothing was stored by asking.
        assert await offline.count(ALICE) == 3

    @pytest_twisted.ensureDeferred
    async def test_user_bytes_limit_counts_utf8_bytes_of_the_whole_queue(self, offline):
        xml = "<message><body>\N{SNOWMAN}</body></message>"
        size = len(xml.encode("utf-8"))
        await offline.store(ALICE, BOB, xml, NOW, userBytesLimit=2 * size)
        await offline.store(ALICE, CAROL, xml, NOW, userBytesLimit=2 * size)
        with pytest.raises(QuotaExceeded) as raised:
            await offline.store(ALICE, BOB, xml, NOW, userBytesLimit=2 * size)
        assert raised.value.limit == "bytes"
        with pytest.raises(QuotaExceeded):
            await offline.store(CAROL, BOB, xml, NOW, userBytesLimit=size - 1)
        assert await offline.count(ALICE) == 2 and await offline.count(CAROL) == 0

    @pytest_twisted.ensureDeferred
    async def test_expired_rows_not_yet_purged_still_count_against_the_limit(self, offline):
        await offline.store(ALICE, BOB, message(1), NOW - 9, expiresAt=NOW - 1)
        with pytest.raises(QuotaExceeded):
            await offline.store(ALICE, BOB, message(2), NOW, pairLimit=1)
        await offline.purgeExpired(NOW)
        await offline.store(ALICE, BOB, message(2), NOW, pairLimit=1)

    @pytest_twisted.ensureDeferred
    async def test_stores_issued_together_never_overshoot_a_limit(self, offline):
        stored, refused = await storeConcurrently(offline, [BOB] * 12, pairLimit=5)
        assert len(stored) == 5 and len(set(stored)) == 5 and len(refused) == 7
        assert await offline.count(ALICE) == 5

    @pytest_twisted.ensureDeferred
    async def test_a_burst_counts_each_pair_not_the_recipients_other_rows(self, offline):
        # Alice's queue holds more than the pair limit, all from Carol: a
        # burst from Bob and Dave is counted per pair, and Dave's overflows.
        await storeSeveral(offline, 3, sender=CAROL)
        dave = "dave@example.org"
        senders = [BOB, dave] * 4 + [dave]
        results = await defer.DeferredList(
            [offline.store(ALICE, sender, message(n), NOW + n, pairLimit=4)
             for n, sender in enumerate(senders)], consumeErrors=True)
        assert [ok for ok, _ in results] == [True] * 8 + [False]
        assert results[8][1].value.limit == "pair"
        # Room for the whole burst below the pair limit: the user limit,
        # read from the same count, still refuses the row past it.
        stored, refused = await storeConcurrently(
            offline, [CAROL] * 3, pairLimit=20, userLimit=13)
        assert len(stored) == 2 and [error.limit for error in refused] == ["user"]
        assert await offline.count(ALICE) == 13

    @pytest_twisted.ensureDeferred
    async def test_deleting_the_account_deletes_its_queue_not_what_it_sent(
            self, offline, account_manager):
        for jid in (ALICE, CAROL):
            await account_manager.create(jid, "pw")
        await storeSeveral(offline, 3)
        await offline.store(CAROL, ALICE, message(9), NOW)
        await account_manager.delete(ALICE)
        assert await offline.count(ALICE) == 0 and await offline.fetch(ALICE, now=NOW) == []
        assert await offline.count(CAROL) == 1
        await account_manager.create(ALICE, "again")
        assert await offline.count(ALICE) == 0


    @pytest_twisted.ensureDeferred
    async def test_fetch_returns_rows_in_arrival_order(self, offline):
        first = await offline.store(ALICE, BOB, message(1), NOW)
        second = await offline.store(ALICE, CAROL, message(2), NOW)
        third = await offline.store(ALICE, BOB, message(3), NOW)
        assert first < second < third
        assert await offline.fetch(ALICE, now=NOW) == [
            (first, BOB, message(1)), (second, CAROL, message(2)), (third, BOB, message(3))]


    @pytest_twisted.ensureDeferred
    async def test_fetch_returns_only_the_recipients_rows(self, offline):
        await offline.store(BOB, ALICE, message(1), NOW)
        mine = await offline.store(ALICE, BOB, message(2), NOW)
        assert await offline.fetch(ALICE, now=NOW) == [(mine, BOB, message(2))]
        assert await offline.fetch(CAROL, now=NOW) == []


    @pytest_twisted.ensureDeferred
    async def test_fetch_pages_with_after_id_and_limit(self, offline):
        ids = await storeSeveral(offline, 7)
        page = await offline.fetch(ALICE, limit=3, now=NOW)
        assert [row[0] for row in page] == ids[:3]
        page = await offline.fetch(ALICE, afterId=page[-1][0], limit=3, now=NOW)
        assert [row[0] for row in page] == ids[3:6]
        page = await offline.fetch(ALICE, afterId=page[-1][0], limit=3, now=NOW)
        assert [row[0] for row in page] == ids[6:]


    @pytest_twisted.ensureDeferred
    async def test_fetch_skips_expired_rows_without_deleting_them(self, offline):
        expired = await offline.store(ALICE, BOB, message(1), NOW - 10, expiresAt=NOW - 1)
        expiringNow = await offline.store(ALICE, BOB, message(2), NOW - 10, expiresAt=NOW)
        later = await offline.store(ALICE, BOB, message(3), NOW - 10, expiresAt=NOW + 1)
        never = await offline.store(ALICE, BOB, message(4), NOW - 10)
        assert [row[0] for row in await offline.fetch(ALICE, now=NOW)] == [later, never]
        assert await offline.count(ALICE) == 4
        assert [row[0] for row in await offline.fetch(ALICE, now=NOW - 5)] == [
            expired, expiringNow, later, never]


    @pytest_twisted.ensureDeferred
    async def test_fetch_defaults_to_the_current_time(self, offline):
        await offline.store(ALICE, BOB, message(1), NOW, expiresAt=NOW)
        kept = await offline.store(ALICE, BOB, message(2), NOW, expiresAt=2 ** 62)
        assert [row[0] for row in await offline.fetch(ALICE)] == [kept]


    @pytest_twisted.ensureDeferred
    async def test_fetch_does_not_delete(self, offline):
        await storeSeveral(offline, 3)
        await offline.fetch(ALICE, now=NOW)
        assert await offline.count(ALICE) == 3


    @pytest_twisted.ensureDeferred
    async def test_delete_removes_exactly_the_given_ids(self, offline):
        ids = await storeSeveral(offline, 5)
        other = await offline.store(CAROL, BOB, message(9), NOW)
        assert await offline.delete([ids[1], ids[3], 10 ** 12]) == 2
        assert [row[0] for row in await offline.fetch(ALICE, now=NOW)] == [ids[0], ids[2], ids[4]]
        assert await offline.count(CAROL) == 1
        assert await offline.delete([]) == 0
        assert await offline.delete([other]) == 1

    @pytest_twisted.ensureDeferred
    async def test_delete_naming_the_recipient_leaves_other_recipients_rows_alone(
            self, offline):
        ids = await storeSeveral(offline, 3)
        carols = await storeSeveral(offline, 2, recipient=CAROL)
        assert await offline.delete([ids[0], ids[2], carols[0]], ALICE) == 2
        assert [row[0] for row in await offline.fetch(ALICE, now=NOW)] == [ids[1]]
        assert [row[0] for row in await offline.fetch(CAROL, now=NOW)] == carols
        assert await offline.delete(carols + [10 ** 12], CAROL) == 2
        assert await offline.count(CAROL) == 0
        assert await offline.delete([], ALICE) == 0


    @pytest_twisted.ensureDeferred
    async def test_ids_are_never_reused_after_a_delete(self, offline):
        ids = await storeSeveral(offline, 3)
        await offline.delete(ids)
        assert await offline.store(ALICE, BOB, message(4), NOW) > ids[-1]


    @pytest_twisted.ensureDeferred
    async def test_list_messages_returns_every_field(self, offline):
        first = await offline.store(ALICE, BOB, message(1), NOW, expiresAt=NOW - 1)
        second = await offline.store(ALICE, CAROL, message(2), NOW + 1)
        assert await offline.listMessages(ALICE) == [
            (first, BOB, NOW, NOW - 1, message(1)), (second, CAROL, NOW + 1, None, message(2))]


    @pytest_twisted.ensureDeferred
    async def test_large_non_ascii_stanza_round_trips(self, offline):
        body = "\N{SNOWMAN}\N{PILE OF POO} 100% ? " * 5000
        xml = "<message><body>%s</body></message>" % body
        assert len(xml.encode("utf-8")) > 65536
        await offline.store(ALICE, BOB, xml, NOW)
        assert (await offline.fetch(ALICE, now=NOW))[0][2] == xml


    @pytest_twisted.ensureDeferred
    async def test_count_and_purge_concern_one_recipient(self, offline):
        await storeSeveral(offline, 4)
        await storeSeveral(offline, 2, recipient=CAROL)
        assert await offline.count(ALICE) == 4
        assert await offline.purge(ALICE) == 4
        assert await offline.count(ALICE) == 0
        assert await offline.count(CAROL) == 2
        assert await offline.purge(ALICE) == 0


    @pytest_twisted.ensureDeferred
    async def test_purge_expired_deletes_and_returns_the_expired_rows(self, offline):
        gone = await offline.store(ALICE, BOB, message(1), NOW - 9, expiresAt=NOW - 1)
        goneToo = await offline.store(CAROL, ALICE, message(2), NOW - 9, expiresAt=NOW)
        later = await offline.store(ALICE, BOB, message(3), NOW - 9, expiresAt=NOW + 1)
        never = await offline.store(ALICE, BOB, message(4), NOW - 9)
        assert await offline.purgeExpired(NOW) == [
            (gone, ALICE, BOB, message(1)), (goneToo, CAROL, ALICE, message(2))]
        assert [row[0] for row in await offline.listMessages(ALICE)] == [later, never]
        assert await offline.count(CAROL) == 0
        assert await offline.purgeExpired(NOW) == []


    @pytest_twisted.ensureDeferred
    async def test_purge_older_than_deletes_rows_stored_before_the_cutoff(self, offline):
        old = await offline.store(ALICE, BOB, message(1), NOW - 2)
        await offline.store(CAROL, BOB, message(2), NOW - 1)
        atCutoff = await offline.store(ALICE, BOB, message(3), NOW)
        assert await offline.purgeOlderThan(NOW) == 2
        assert [row[0] for row in await offline.listMessages(ALICE)] == [atCutoff]
        assert old not in [row[0] for row in await offline.listMessages(ALICE)]


    @pytest_twisted.ensureDeferred
    async def test_pair_limit_stores_exactly_up_to_the_limit(self, offline):
        await storeSeveral(offline, 3, pairLimit=3)
        with pytest.raises(QuotaExceeded) as raised:
            await offline.store(ALICE, BOB, message(9), NOW, pairLimit=3)
        assert raised.value.limit == "pair"
        assert await offline.count(ALICE) == 3
        # Another sender has a quota of its own; freeing a row frees a place.
        await offline.store(ALICE, CAROL, message(9), NOW, pairLimit=3)
        await offline.delete([(await offline.fetch(ALICE, limit=1, now=NOW))[0][0]])
        await offline.store(ALICE, BOB, message(10), NOW, pairLimit=3)
        assert await offline.count(ALICE) == 4


    @pytest_twisted.ensureDeferred
    async def test_user_limit_caps_the_queue_across_senders(self, offline):
        await offline.store(ALICE, BOB, message(1), NOW, userLimit=3)
        await offline.store(ALICE, CAROL, message(2), NOW, userLimit=3)
        await offline.store(ALICE, "dave@example.org", message(3), NOW, userLimit=3)
        with pytest.raises(QuotaExceeded) as raised:
            await offline.store(ALICE, "erin@example.org", message(4), NOW, userLimit=3)
        assert raised.value.limit == "user"
        await offline.store(CAROL, BOB, message(5), NOW, userLimit=3)
        assert await offline.count(ALICE) == 3


    @pytest_twisted.ensureDeferred
    async def test_the_first_limit_reached_is_named(self, offline):
        await storeSeveral(offline, 2, pairLimit=2, userLimit=5)
        with pytest.raises(QuotaExceeded) as raised:
            await offline.store(ALICE, BOB, message(3), NOW, pairLimit=2, userLimit=5)
        assert raised.value.limit == "pair"
        await offline.store(ALICE, CAROL, message(4), NOW, pairLimit=2, userLimit=3)
        with pytest.raises(QuotaExceeded) as raised:
            await offline.store(ALICE, "dave@example.org", message(5), NOW,
                                pairLimit=2, userLimit=3)
        assert raised.value.limit == "user"


    @pytest.mark.parametrize("limits, name", [
        (dict(pairLimit=0), "pair"), (dict(userLimit=0), "user"),
        (dict(pairLimit=0, userLimit=0), "pair")])
    @pytest_twisted.ensureDeferred
    async def test_a_limit_of_zero_stores_nothing(self, offline, limits, name):
        with pytest.raises(QuotaExceeded) as raised:
            await offline.store(ALICE, BOB, message(1), NOW, **limits)
        assert raised.value.limit == name
        assert await offline.count(ALICE) == 0


    @pytest_twisted.ensureDeferred
    async def test_no_limit_stores_without_a_cap(self, offline):
        await storeSeveral(offline, 30)
        assert await offline.count(ALICE) == 30


def test_a_limit_of_n_allows_n_rows_and_the_pair_is_named_first():
    assert exceededLimit(None, None, 10 ** 9, 10 ** 9) is None
    assert exceededLimit(3, None, 2, 99) is None
    assert exceededLimit(3, None, 3, 3) == "pair"
    assert exceededLimit(None, 3, 99, 3) == "user"
    assert exceededLimit(3, 3, 3, 3) == "pair"
    assert exceededLimit(0, 5, 0, 0) == "pair"
    assert exceededLimit(5, 0, 0, 0) == "user"


@pytest_twisted.ensureDeferred
async def test_delete_of_a_long_id_list_is_chunked(database):
    offline = OfflineStore(database)
    def fill(transaction):
        transaction.executemany(
            "INSERT INTO offline_messages (recipient, sender, stored_at, xml)"
            " VALUES (?, ?, ?, ?)", [(ALICE, BOB, NOW, "<message/>")] * 1200)
    await database.runInteraction(fill)
    await offline.store(ALICE, BOB, message(1), NOW)
    ids = [row[0] for row in await offline.listMessages(ALICE)]
    assert await offline.delete(ids[:-1]) == 1200
    assert await offline.count(ALICE) == 1
    await database.runInteraction(fill)
    ids = [row[0] for row in await offline.listMessages(ALICE)]
    assert await offline.delete(ids[1:], ALICE) == 1200
    assert [row[0] for row in await offline.listMessages(ALICE)] == ids[:1]


class SlowCountingOfflineStore(OfflineStore):
    """
    Sleeps in the pool thread between counting and inserting, so that an
    unlocked count would let other stores slip in: without the sleep a
    local server finishes each store before the next thread starts one,
    and a missing lock goes unnoticed.
    """

    def _overLimit(self, *args):
        overLimit = OfflineStore._overLimit(self, *args)
        time.sleep(0.02)
        return overLimit


class SlowCountingArchiveQueue(ArchiveQueue):
    """The same for the archive's queue, which counts in ``_over``."""

    def _over(self, *args):
        over = ArchiveQueue._over(self, *args)
        time.sleep(0.02)
        return over


SLOW_QUEUES = {"own": (SlowCountingOfflineStore, "xmppd.offline"),
               "archive": (SlowCountingArchiveQueue, "xmppd.mam")}


async def storeConcurrently(offline, senders, **limits):
    results = await defer.DeferredList(
        [offline.store(ALICE, sender, message(n), NOW + n, **limits)
         for n, sender in enumerate(senders)], consumeErrors=True)
    stored = [value for ok, value in results if ok]
    refused = [value.value for ok, value in results if not ok]
    assert all(isinstance(error, QuotaExceeded) for error in refused), refused
    return stored, refused


async def slowQueue(kind, backend, make_database):
    # Seven connections race on MySQL; seven, not a divisor of the limit,
    # keeps a wave of unlocked counts from landing on it exactly by luck.
    queue, package = SLOW_QUEUES[kind]
    database = await make_database(backend, schema=[package],
                                   **({"pool_size": 7} if backend == "mysql" else {}))
    return queue(database)


@pytest.mark.parametrize("kind", QUEUES)
@pytest_twisted.ensureDeferred
async def test_concurrent_stores_never_overshoot_the_pair_limit(kind, backend, make_database):
    offline = await slowQueue(kind, backend, make_database)
    stored, refused = await storeConcurrently(offline, [BOB] * 50, pairLimit=10)
    assert len(stored) == 10 and len(set(stored)) == 10
    assert len(refused) == 40 and {error.limit for error in refused} == {"pair"}
    assert await offline.count(ALICE) == 10


@pytest.mark.parametrize("kind", QUEUES)
@pytest_twisted.ensureDeferred
async def test_concurrent_stores_never_overshoot_the_user_limit(kind, backend, make_database):
    offline = await slowQueue(kind, backend, make_database)
    senders = ["sender%d@example.org" % (n % 7) for n in range(50)]
    stored, refused = await storeConcurrently(offline, senders, pairLimit=5, userLimit=13)
    assert len(stored) == 13 and await offline.count(ALICE) == 13
    assert len(refused) == 37


@pytest.mark.parametrize("queue", ["offline", "mam_offline"])
@pytest_twisted.ensureDeferred
async def test_a_store_that_requires_the_account_writes_nothing_without_it(
        storage, accounts, queue):
    offline = getattr(storage, queue)
    for limits in ({}, {"pairLimit": 10, "userLimit": 10}):
        with pytest.raises(UnknownUser):
            await offline.store(ALICE, BOB, message(0), NOW, requireAccount=True, **limits)
    assert await offline.count(ALICE) == 0
    await accounts.create(ALICE, "secret")
    rowId = await offline.store(ALICE, BOB, message(1), NOW + 1, requireAccount=True)
    assert [row[0] for row in await offline.listMessages(ALICE)] == [rowId]


@pytest.mark.parametrize("queue", ["offline", "mam_offline"])
@pytest_twisted.ensureDeferred
async def test_stores_racing_the_account_deletion_leave_no_row_behind(
        storage, accounts, queue):
    offline = getattr(storage, queue)
    await accounts.create(ALICE, "secret")
    stores = [offline.store(ALICE, BOB, message(n), NOW + n, pairLimit=100,
                            requireAccount=True) for n in range(30)]
    deleted = accounts.delete(ALICE)
    stores += [offline.store(ALICE, BOB, message(n), NOW + n, requireAccount=True)
               for n in range(30, 40)]
    results = await defer.DeferredList(stores + [deleted], consumeErrors=True)
    assert results[-1][0], results[-1][1]
    refused = [value for ok, value in results[:-1] if not ok]
    assert all(failure.check(UnknownUser) for failure in refused)
    # Stored before the deletion and deleted with the account, or refused.
    assert await offline.count(ALICE) == 0
