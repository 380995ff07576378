"""
Message archives on both backends: pages in both directions that return
every message once, positions by stanza id, filters, preferences, purges,
and the archive going with its account.
"""

import time

import pytest
import pytest_twisted

from xmppd.mam.store import ArchiveItemNotFound, ArchiveQuery, MamStore

ALICE = "alice@example.org"
BOB = "bob@example.org"
CAROL = "carol@example.org"
# The module's default: the RSM <count/> only when a client asks for it alone.
COUNT = False
T0 = 1_700_000_000_000_000


@pytest.fixture
def mam(database):
    return MamStore(database)


def row(n, owner=ALICE, other=BOB, resource="r1", stamp=None):
    return (owner, "id%05d" % n, T0 + n if stamp is None else stamp, other, resource,
            "<message id='m%d'><body>%d</body></message>" % (n, n))


async def fill(mam, count, **kw):
    await mam.append([row(n, **kw) for n in range(count)])


def ids(page):
    return [r[0] for r in page.rows]


@pytest_twisted.ensureDeferred
async def test_paging_forwards_returns_every_message_once_in_order(mam):
    await fill(mam, 23)
    seen, after = [], []
    while True:
        page = await mam.query(ArchiveQuery(ALICE, afterIds=after, limit=5))
        seen += ids(page)
        assert page.count == 23
        if page.complete:
            break
        after = [page.rows[-1][0]]
    assert seen == ["id%05d" % n for n in range(23)]


@pytest_twisted.ensureDeferred
async def test_paging_backwards_returns_every_message_once_each_page_in_order(mam):
    await fill(mam, 23)
    pages, before = [], []
    while True:
        page = await mam.query(ArchiveQuery(ALICE, beforeIds=before, backward=True, limit=5))
        pages.append(ids(page))
        if page.complete:
            break
        before = [page.rows[0][0]]
    assert pages[0] == ["id%05d" % n for n in range(18, 23)]
    assert pages[-1] == ["id%05d" % n for n in range(0, 3)]
    assert sorted(i for p in pages for i in p) == ["id%05d" % n for n in range(23)]


@pytest_twisted.ensureDeferred
async def test_equal_stamps_are_ordered_by_arrival(mam):
    await mam.append([row(n, stamp=T0) for n in range(6)])
    first = await mam.query(ArchiveQuery(ALICE, limit=3))
    second = await mam.query(ArchiveQuery(ALICE, afterIds=[first.rows[-1][0]], limit=3))
    assert ids(first) + ids(second) == ["id%05d" % n for n in range(6)]
    assert second.complete and not first.complete


@pytest_twisted.ensureDeferred
async def test_with_start_end_and_ids_filter(mam):
    await mam.append([row(0, other=BOB), row(1, other=CAROL), row(2, other=BOB, resource="r2"),
                      row(3, other=BOB)])
    assert ids(await mam.query(ArchiveQuery(ALICE, withBare=BOB))) == [
        "id00000", "id00002", "id00003"]
    assert ids(await mam.query(ArchiveQuery(ALICE, withBare=BOB, withResource="r2"))) == [
        "id00002"]
    assert ids(await mam.query(ArchiveQuery(ALICE, start=T0 + 1, end=T0 + 2))) == [
        "id00001", "id00002"]
    assert ids(await mam.query(ArchiveQuery(ALICE, ids=["id00003", "id00001", "nope"]))) == [
        "id00001", "id00003"]
    assert ids(await mam.query(ArchiveQuery(BOB))) == []


@pytest_twisted.ensureDeferred
async def test_an_unknown_position_fails_item_not_found(mam):
    await fill(mam, 3)
    await mam.append([row(9, owner=BOB)])
    with pytest.raises(ArchiveItemNotFound):
        await mam.query(ArchiveQuery(ALICE, afterIds=["missing"]))
    with pytest.raises(ArchiveItemNotFound):
        # Another user's message is no position in this archive.
        await mam.query(ArchiveQuery(ALICE, beforeIds=["id00009"]))


@pytest_twisted.ensureDeferred
async def test_bounds_name_the_first_and_last_message(mam):
    assert await mam.bounds(ALICE) is None
    await fill(mam, 4)
    assert await mam.bounds(ALICE) == (("id00000", T0), ("id00003", T0 + 3))


@pytest_twisted.ensureDeferred
async def test_purges_by_owner_and_by_age(mam):
    await fill(mam, 5)
    await fill(mam, 2, owner=BOB)
    assert await mam.purgeOlderThan(T0 + 3) == 5
    assert ids(await mam.query(ArchiveQuery(ALICE))) == ["id00003", "id00004"]
    assert await mam.purge(ALICE) == 2
    assert await mam.count(ALICE) == 0 and await mam.count(BOB) == 0


@pytest_twisted.ensureDeferred
async def test_prefs_are_stored_and_replaced_whole(mam):
    assert await mam.allPrefs() == {}
    await mam.setPrefs(ALICE, "roster", {BOB}, {CAROL})
    assert await mam.allPrefs() == {ALICE: ("roster", {BOB}, {CAROL})}
    await mam.setPrefs(ALICE, "never", {CAROL}, set())
    assert await mam.allPrefs() == {ALICE: ("never", {CAROL}, set())}


@pytest_twisted.ensureDeferred
async def test_deleting_the_account_deletes_its_archive_and_prefs(accounts, mam):
    await accounts.create(ALICE, "pw")
    await fill(mam, 3)
    await fill(mam, 1, owner=BOB)
    await mam.setPrefs(ALICE, "always", set(), {CAROL})
    await accounts.delete(ALICE)
    assert await mam.count(ALICE) == 0 and await mam.count(BOB) == 1
    assert await mam.allPrefs() == {}


@pytest_twisted.ensureDeferred
async def test_a_page_of_50_from_a_100000_message_archive_is_fast(mam, backend):
    batch = 5000
    for start in range(0, 100_000, batch):
        await mam.append([row(n, other=(BOB if n % 3 else CAROL)) for n in
                          range(start, start + batch)])
    await mam.append([row(n, owner=BOB) for n in range(1000)])
    timings = {}
    for name, query in (
            ("last page", ArchiveQuery(ALICE, backward=True, limit=50, count=COUNT)),
            ("first page", ArchiveQuery(ALICE, limit=50, count=COUNT)),
            ("after the middle", ArchiveQuery(ALICE, afterIds=["id50000"], limit=50, count=COUNT)),
            ("before the middle, with", ArchiveQuery(ALICE, withBare=CAROL, backward=True,
                                                     beforeIds=["id50001"], limit=50, count=COUNT)),
            ("time range", ArchiveQuery(ALICE, start=T0 + 70_000, end=T0 + 90_000, limit=50, count=COUNT))):
        await mam.query(query)
        best = None
        for _ in range(5):
            started = time.perf_counter()
            page = await mam.query(query)
            elapsed = time.perf_counter() - started
            best = elapsed if best is None else min(best, elapsed)
        assert len(page.rows) == 50
        timings[name] = best
    started = time.perf_counter()
    counted = await mam.query(ArchiveQuery(ALICE, limit=0, count=True))
    countTime = time.perf_counter() - started
    assert counted.count == 100_000 and counted.rows == []
    print("\n%s page of 50 of 100,000 (best of 5): %s; count alone %.1f ms" % (
        backend, ", ".join("%s %.1f ms" % (name, t * 1000) for name, t in timings.items()),
        countTime * 1000))
    assert max(timings.values()) < 0.05, timings
