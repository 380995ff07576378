"""
SQLite's group commit: interactions that queue behind a running transaction
share the next one, yet each succeeds or fails as if it had run alone.
"""

import pytest_twisted
from twisted.internet import defer

from xmppd.storage import StorageError

INSERT = "INSERT INTO settings (jid, node, name, value) VALUES (?, ?, ?, ?)"


def _insert(transaction, name):
    transaction.execute(INSERT, ("a@b", "n", name, "v"))
    return name


def _insertThenFail(transaction, name):
    transaction.execute(INSERT, ("a@b", "n", name, "v"))
    raise KeyError(name)


@pytest_twisted.ensureDeferred
async def test_a_raising_interaction_in_a_group_fails_alone_and_the_others_commit(database):
    calls = [database.runInteraction(_insert, "k%d" % i) for i in range(5)]
    calls.append(database.runInteraction(_insertThenFail, "bad"))
    calls += [database.runInteraction(_insert, "k%d" % i) for i in range(5, 10)]
    results = await defer.DeferredList(calls, consumeErrors=True)
    failures = [r for ok, r in results if not ok]
    assert len(failures) == 1 and failures[0].check(KeyError)
    assert [r for ok, r in results if ok] == ["k%d" % i for i in range(10)]
    rows = await database.runQuery("SELECT name FROM settings ORDER BY name")
    assert rows == [("k%d" % i,) for i in range(10)]


@pytest_twisted.ensureDeferred
async def test_a_driver_error_in_a_group_is_a_storage_error_for_that_interaction_only(database):
    calls = [database.runInteraction(_insert, "k%d" % i) for i in range(3)]
    calls.append(database.runOperation("INSERT INTO no_such_table VALUES (?)", (1,)))
    calls.append(database.runInteraction(_insert, "k3"))
    results = await defer.DeferredList(calls, consumeErrors=True)
    assert [ok for ok, _ in results] == [True, True, True, False, True]
    assert results[3][1].check(StorageError)
    assert await database.runQuery("SELECT COUNT(*) FROM settings") == [(4,)]


@pytest_twisted.ensureDeferred
async def test_interactions_of_a_group_run_in_the_order_they_were_asked(make_database):
    # SQLite only: a pool of MySQL connections promises no order; SQLite's one does.
    database = await make_database("sqlite")
    calls = [database.runInteraction(_insert, "k%03d" % i) for i in range(300)]
    calls.append(database.runQuery("SELECT COUNT(*) FROM settings"))
    results = await defer.gatherResults(calls)
    assert results[-1] == [(300,)]


def _countThenInsert(transaction, n):
    count = transaction.execute("SELECT COUNT(*) FROM settings").fetchone()[0]
    transaction.execute(INSERT, ("a@b", "n", "k%03d" % n, "v"))
    return int(count)


@pytest_twisted.ensureDeferred
async def test_ordered_interactions_run_one_after_another_in_the_order_asked(database):
    # On MariaDB too: each one sees exactly the rows of those asked before it.
    results = await defer.gatherResults(
        [database.runOrdered(_countThenInsert, n) for n in range(120)])
    assert results == list(range(120))


@pytest_twisted.ensureDeferred
async def test_an_ordered_interaction_that_raises_fails_alone(database):
    calls = [database.runOrdered(_insert, "k%d" % i) for i in range(4)]
    calls.append(database.runOrdered(_insertThenFail, "bad"))
    calls.append(database.runOrdered(_countThenInsert, 99))
    results = await defer.DeferredList(calls, consumeErrors=True)
    assert [ok for ok, _ in results] == [True] * 4 + [False, True]
    assert results[4][1].check(KeyError)
    # The failed one's insert was rolled back before the next one counted.
    assert results[5][1] == 4
    assert await database.runQuery("SELECT COUNT(*) FROM settings") == [(5,)]
