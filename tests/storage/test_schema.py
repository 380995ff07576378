"""
Schema deltas: applied once each, in order, recorded in schema_version, so
that restarting or upgrading the server never needs a hand-written ALTER.
"""

import shutil

import pytest
import pytest_twisted

from xmppd.storage import Database, OfflineStore
from xmppd.storage.migrations import findDeltas

TABLES = ["offline_locks", "offline_messages", "schema_version", "settings", "users"]


def listTables(database):
    return database.runInteraction(
        lambda transaction: transaction.engine.listTables(transaction.cursor))


def appliedVersions(database):
    return database.runQuery("SELECT version, name FROM schema_version ORDER BY version")


@pytest_twisted.ensureDeferred
async def test_start_creates_every_table_and_records_the_deltas(database):
    tables = await listTables(database)
    assert [t for t in tables if t in TABLES] == TABLES
    versions = await appliedVersions(database)
    assert versions[0] == (1, "0001_initial.sql")
    assert [v for v, _ in versions] == [d.version for d in findDeltas(database.backend)]


@pytest_twisted.ensureDeferred
async def test_applying_the_schema_twice_is_a_no_op(database):
    before = await appliedVersions(database)
    assert await database.applySchema() == []
    assert await appliedVersions(database) == before


@pytest_twisted.ensureDeferred
async def test_a_restart_keeps_data_and_applies_nothing(backend, database_options):
    options = database_options(backend)
    first = Database(backend, **options)
    await first.start()
    await OfflineStore(first).store("alice@example.org", "bob@example.org", "<m/>", 1)
    versions = await appliedVersions(first)
    await first.stop()

    second = Database(backend, **options)
    try:
        assert await second.start() == []
        assert await appliedVersions(second) == versions
        assert await OfflineStore(second).count("alice@example.org") == 1
    finally:
        await second.stop()


@pytest_twisted.ensureDeferred
async def test_a_new_delta_is_applied_once_on_the_next_start(database, tmp_path):
    for delta in findDeltas(database.backend):
        (tmp_path / delta.name).write_text(delta.sql)
    (tmp_path / "9999_roster_like.sql").write_text(
        "-- a later feature's table, with a comment; and a second statement\n"
        "CREATE TABLE extra_items (owner VARCHAR(100) NOT NULL, item VARCHAR(100) NOT NULL);\n"
        "CREATE INDEX extra_items_owner ON extra_items (owner);\n")
    (tmp_path / "README").write_text("not a delta")

    assert await database.applySchema(findDeltas(database.backend, tmp_path)) == [
        "9999_roster_like.sql"]
    assert "extra_items" in await listTables(database)
    assert await database.applySchema(findDeltas(database.backend, tmp_path)) == []
    assert (await appliedVersions(database))[-1] == (9999, "9999_roster_like.sql")


def test_two_deltas_with_one_number_are_refused(tmp_path):
    shutil.copy(__file__, tmp_path / "0001_a.sql")
    shutil.copy(__file__, tmp_path / "0001_b.sql")
    with pytest.raises(ValueError, match="0001"):
        findDeltas("sqlite", tmp_path)


def test_both_dialects_have_the_same_deltas():
    assert ([d.name for d in findDeltas("sqlite")]
            == [d.name for d in findDeltas("mysql")])
