"""
The store registry: the core's stores and those the enabled modules declare,
their tables applied at start, and an account deleted from every store at
once -- also from the stores of modules that are installed but off.
"""

import pytest
import pytest_twisted

from tests.storage.notes_feature import NotesStore, notesModule
from xmppd.accounts import AccountManager
from xmppd.module import Module
from xmppd.storage import Database, MissingStore, UnknownUser, openStores

ALICE = "alice@example.org"
BOB = "bob@example.org"


def listTables(database):
    return database.runInteraction(
        lambda transaction: transaction.engine.listTables(transaction.cursor))


@pytest_twisted.ensureDeferred
async def test_an_enabled_module_gets_its_store_and_its_tables(backend, make_database):
    database = await make_database(backend)
    storage = openStores(database, [notesModule])
    assert await storage.start() == ["tests.storage.notes_feature/0001_notes.sql"]
    assert isinstance(storage.notes, NotesStore) and "notes" in storage
    await storage.notes.add(ALICE, "hello")
    assert await storage.notes.count(ALICE) == 1


@pytest_twisted.ensureDeferred
async def test_a_module_that_is_off_gets_neither(backend, make_database):
    database = await make_database(backend)
    storage = openStores(database, [], [notesModule])
    assert await storage.start() == []
    assert "test_notes" not in await listTables(database)
    with pytest.raises(MissingStore, match="'notes'"):
        storage.notes
    assert not hasattr(storage, "notes")


def test_two_modules_may_share_a_store_factory_but_not_a_name():
    database = Database("memory")
    other = Module("other", lambda host, options: [], stores={"notes": NotesStore})
    storage = openStores(database, [notesModule, other])
    assert storage.names() == ["notes", "roster", "settings", "users"]
    clash = Module("clash", lambda host, options: [], stores={"notes": lambda db: object()})
    with pytest.raises(ValueError, match="modules.clash: a store named 'notes'"):
        openStores(database, [notesModule, clash])
    core = Module("core", lambda host, options: [], stores={"users": NotesStore})
    with pytest.raises(ValueError, match="the store 'users' is the core's"):
        openStores(database, [core])


@pytest_twisted.ensureDeferred
async def test_deleting_an_account_reaches_the_tables_of_a_module_turned_off(
        backend, database_options):
    options = database_options(backend)
    first = openStores(Database(backend, **options), [notesModule])
    await first.start()
    await AccountManager(first).create(ALICE, "pw")
    await first.notes.add(ALICE, "private")
    await first.notes.add(BOB, "bob's")
    await first.stop()

    # The operator turned the module off; its rows stay, and so do its tables.
    second = openStores(Database(backend, **options), [], [notesModule])
    await second.start()
    try:
        await AccountManager(second).delete(ALICE)
        probe = NotesStore(second.database)
        assert await probe.count(ALICE) == 0
        assert await probe.count(BOB) == 1
    finally:
        await second.stop()


@pytest_twisted.ensureDeferred
async def test_a_module_off_whose_tables_never_existed_is_left_alone(backend, make_database):
    database = await make_database(backend)
    storage = openStores(database, [], [notesModule])
    await storage.start()
    accounts = AccountManager(storage)
    await accounts.create(ALICE, "pw")
    await accounts.delete(ALICE)
    assert not await accounts.exists(ALICE)


class FailingStore:
    def __init__(self, database):
        self.database = database

    def deleteAccount(self, transaction, bareJID):
        transaction.execute("DELETE FROM settings WHERE jid = ?", (bareJID,))
        raise RuntimeError("this store cannot delete")


@pytest_twisted.ensureDeferred
async def test_an_account_goes_whole_or_not_at_all_on_sql(backend, make_database):
    database = await make_database(backend)
    failing = Module("failing", lambda host, options: [], stores={"failing": FailingStore})
    storage = openStores(database, [notesModule, failing])
    await storage.start()
    accounts = AccountManager(storage)
    await accounts.create(ALICE, "pw")
    await storage.settings.set(ALICE, "n", "k", "v")
    await storage.notes.add(ALICE, "kept")
    with pytest.raises(RuntimeError):
        await accounts.delete(ALICE)
    assert await accounts.exists(ALICE)
    assert await storage.settings.get(ALICE, "n", "k") == "v"
    assert await storage.notes.count(ALICE) == 1


@pytest_twisted.ensureDeferred
async def test_under_memory_a_feature_without_memory_store_runs_on_sqlite_in_memory(
        make_database):
    database = await make_database("memory")
    storage = openStores(database, [notesModule])
    await storage.start()
    assert database.backend == "memory" and database.engine.name == "sqlite"
    accounts = AccountManager(storage)
    await accounts.create(ALICE, "pw")
    await storage.notes.add(ALICE, "in memory")
    # The account is in a memory store, the note in SQLite: both go.
    await accounts.delete(ALICE)
    assert await storage.notes.count(ALICE) == 0
    with pytest.raises(UnknownUser):
        await accounts.delete(ALICE)
