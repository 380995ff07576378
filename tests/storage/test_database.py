"""
The Database below the stores: one query text for both dialects, driver
errors as StorageError, and a pool that outlives a restart of MariaDB.
"""

import pytest
import pytest_twisted
from twisted.internet import defer

from xmppd.offline.store import OfflineStore
from xmppd.storage import Database, StorageError
from xmppd.storage.engines import MYSQL_DRIVERS, _formatParamstyle, mysqlDriver


def test_question_marks_become_pymysql_placeholders_and_percent_is_kept():
    assert _formatParamstyle("SELECT ? WHERE x LIKE '5%'") == "SELECT %s WHERE x LIKE '5%%'"


@pytest_twisted.ensureDeferred
async def test_the_database_fixture_is_started(database):
    assert database.engine.name == database.backend
    assert await database.runQuery("SELECT 1") == [(1,)]


@pytest_twisted.ensureDeferred
async def test_one_query_text_runs_on_both_dialects(database):
    assert await database.runQuery("SELECT ?, '100%', ?", ("a?", 7)) == [("a?", "100%", 7)]


@pytest_twisted.ensureDeferred
async def test_a_failing_statement_is_a_storage_error_with_its_cause(database):
    with pytest.raises(StorageError) as raised:
        await database.runOperation("INSERT INTO no_such_table VALUES (?)", (1,))
    assert isinstance(raised.value.__cause__, database.engine.driverErrors)


@pytest_twisted.ensureDeferred
async def test_a_raising_interaction_rolls_back(database):
    def insertThenFail(transaction):
        transaction.execute(
            "INSERT INTO settings (jid, node, name, value) VALUES (?, ?, ?, ?)",
            ("a@b", "n", "k", "v"))
        raise KeyError("boom")
    with pytest.raises(KeyError):
        await database.runInteraction(insertThenFail)
    assert await database.runQuery("SELECT COUNT(*) FROM settings") == [(0,)]


@pytest_twisted.ensureDeferred
async def test_a_stopped_database_fails_storage_error(database):
    await database.stop()
    with pytest.raises(StorageError):
        await database.runQuery("SELECT 1")


@pytest_twisted.ensureDeferred
async def test_unreachable_sqlite_file_fails_storage_error(tmp_path):
    database = Database("sqlite", path=str(tmp_path / "missing-dir" / "x.sqlite"))
    try:
        with pytest.raises(StorageError):
            await database.start()
    finally:
        await database.stop()


@pytest_twisted.ensureDeferred
async def test_unreachable_mysql_server_fails_storage_error():
    database = Database("mysql", host="127.0.0.1", port=9, user="x", password="x",
                        database="x", connect_timeout=2)
    try:
        with pytest.raises(StorageError):
            await database.start()
    finally:
        await database.stop()


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="postgres"):
        Database("postgres")


def test_the_mysql_driver_is_mysqlclient_when_installed_else_pymysql():
    pytest.importorskip("MySQLdb")
    assert mysqlDriver("auto")[0] == "mysqlclient"
    assert mysqlDriver("pymysql")[1].__name__ == "pymysql"


def test_an_unknown_mysql_driver_is_refused():
    with pytest.raises(ValueError, match="mysql-connector"):
        mysqlDriver("mysql-connector")


@pytest.mark.parametrize("driver", sorted(MYSQL_DRIVERS))
@pytest_twisted.ensureDeferred
async def test_both_mysql_drivers_run_one_query_text_and_name_duplicate_keys(
        driver, make_database):
    pytest.importorskip(MYSQL_DRIVERS[driver])
    database = await make_database("mysql", driver=driver)
    assert database.engine.driverName == driver
    assert await database.runQuery("SELECT ?, '100%', ?, ?", ("a?", 7, b"\x00\xff")) == [
        ("a?", "100%", 7, b"\x00\xff")]
    insert = ("INSERT INTO settings (jid, node, name, value) VALUES (?, ?, ?, ?)",
              ("a@b", "n", "k", "v"))
    await database.runOperation(*insert)
    with pytest.raises(StorageError) as raised:
        await database.runOperation(*insert)
    assert database.engine.isDuplicateKey(raised.value.__cause__)


@pytest.mark.parametrize("driver", sorted(MYSQL_DRIVERS))
@pytest_twisted.ensureDeferred
async def test_both_mysql_drivers_connect_over_the_unix_socket_when_one_is_set(
        driver, mariadb, make_database):
    pytest.importorskip(MYSQL_DRIVERS[driver])
    if not mariadb.unixSocket:
        pytest.skip("the MariaDB server is external")
    # A host nothing answers on (TEST-NET-1): only the socket can work.
    database = await make_database("mysql", driver=driver, unix_socket=mariadb.unixSocket,
                                   host="192.0.2.1", connect_timeout=3)
    assert await database.runQuery("SELECT 1") == [(1,)]


def openConnections(mariadb, databaseName):
    with mariadb.connect() as connection, connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = %s",
                       (databaseName,))
        return cursor.fetchone()[0]


@pytest_twisted.ensureDeferred
async def test_storing_fails_while_mariadb_is_down_and_works_once_it_is_back(
        mariadb, make_database):
    if not mariadb.restartable:
        pytest.skip("the MariaDB server is external")
    database = await make_database("mysql", pool_size=5, schema=["xmppd.offline"])
    offline = OfflineStore(database)
    await defer.gatherResults([
        offline.store("alice@example.org", "bob@example.org", "<m/>", n, pairLimit=100)
        for n in range(20)])
    # Open every pooled connection (the stores above share one batch's), so
    # that all of them go stale below.
    await defer.gatherResults([database.runQuery("SELECT SLEEP(0.2)") for _ in range(5)])
    assert openConnections(mariadb, database.engine.database) == 5

    mariadb.stop()
    try:
        for n in range(3):
            with pytest.raises(StorageError):
                await offline.store("alice@example.org", "bob@example.org", "<m/>", n)
    finally:
        mariadb.start()

    stored = await defer.gatherResults([
        offline.store("alice@example.org", "bob@example.org", "<m/>", n, pairLimit=100)
        for n in range(20)])
    assert len(set(stored)) == 20
    assert await offline.count("alice@example.org") == 40


def test_both_engines_implement_the_engine_contract(tmp_path):
    from zope.interface.verify import verifyObject

    from xmppd.storage.engines import MysqlEngine, SqliteEngine
    from xmppd.storage.interfaces import IEngine
    assert verifyObject(IEngine, SqliteEngine(str(tmp_path / "x.sqlite")))
    assert verifyObject(IEngine, MysqlEngine())


@pytest_twisted.ensureDeferred
async def test_engine_upsert_insert_returning_id_and_duplicate_key(database):
    engine = database.engine

    def work(transaction):
        sql = engine.upsert("settings", ("jid", "node", "name"), ("value",))
        transaction.execute(sql, ("a@x", "n", "k", "1"))
        transaction.execute(sql, ("a@x", "n", "k", "2"))
        first = engine.insertReturningId(
            transaction, "INSERT INTO offline_messages (recipient, sender, stored_at, xml)"
            " VALUES (?, ?, ?, ?)", ("a@x", "b@x", 1, "<m/>"))
        second = engine.insertReturningId(
            transaction, "INSERT INTO offline_messages (recipient, sender, stored_at, xml)"
            " VALUES (?, ?, ?, ?)", ("a@x", "b@x", 2, "<m/>"))
        try:
            transaction.execute("INSERT INTO settings (jid, node, name, value)"
                                " VALUES (?, ?, ?, ?)", ("a@x", "n", "k", "3"))
        except engine.driverErrors as error:
            duplicate = engine.isDuplicateKey(error)
        return first, second, duplicate

    first, second, duplicate = await database.runInteraction(work)
    assert second == first + 1 and duplicate
    assert await database.runQuery("SELECT value FROM settings WHERE jid = 'a@x'") == [("2",)]
