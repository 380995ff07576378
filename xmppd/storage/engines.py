"""
The SQL dialects, one small class each (after Synapse's storage engines),
both implementing ``xmppd.storage.interfaces.IEngine``.

The stores write every query once, with ``?`` placeholders and portable SQL;
whatever differs between SQLite and MySQL/MariaDB -- the driver, the
paramstyle, upserts, auto-increment ids, how a transaction takes its locks,
which driver errors are worth a retry, how deltas keep other nodes out --
is answered here.
"""

import functools
import importlib
import sqlite3

from twisted.enterprise import adbapi
from zope.interface import implementer

from xmppd.storage.interfaces import IEngine


@functools.lru_cache(maxsize=512)
def _formatParamstyle(sql):
    # Both MySQL drivers interpolate with ``%`` even for literal percent
    # signs, so those are doubled before the placeholders become ``%s``.
    return sql.replace("%", "%%").replace("?", "%s")


@implementer(IEngine)
class SqliteEngine:
    """
    SQLite in WAL mode behind exactly one connection.

    One connection serialises every transaction of this process, and
    ``BEGIN IMMEDIATE`` takes the database's write lock up front, so that a
    check followed by a write (a quota count, then the insert) cannot be
    interleaved even with another process, such as ``xmppctl``, on the file.
    """

    name = "sqlite"
    poolSize = 1
    driverErrors = (sqlite3.Error,)

    def __init__(self, path):
        self.path = path

    def makePool(self):
        return adbapi.ConnectionPool(
            "sqlite3", self.path,
            # Python's implicit transactions would start a DEFERRED
            # transaction before our own BEGIN IMMEDIATE could.
            isolation_level=None,
            # adbapi closes the connection from the reactor thread.
            check_same_thread=False,
            # Waits for another process's write lock instead of failing.
            timeout=30,
            cp_min=1, cp_max=1, cp_noisy=False,
            cp_openfun=self._prepareConnection)

    def _prepareConnection(self, connection):
        connection.execute("PRAGMA journal_mode = WAL")
        # WAL with synchronous=NORMAL survives a crash of the process; only
        # an OS crash or power loss may drop the last commits. FULL would
        # fsync every stored message.
        connection.execute("PRAGMA synchronous = NORMAL")

    def formatSql(self, sql):
        return sql

    def beginTransaction(self, cursor):
        cursor.execute("BEGIN IMMEDIATE")

    def lockKey(self, transaction, table, column, value):
        """BEGIN IMMEDIATE already holds the database's only write lock."""

    def lockKeys(self, transaction, table, column, values):
        """BEGIN IMMEDIATE already holds the database's only write lock."""

    def upsert(self, table, keyColumns, valueColumns):
        columns = list(keyColumns) + list(valueColumns)
        return "INSERT INTO %s (%s) VALUES (%s) ON CONFLICT (%s) DO UPDATE SET %s" % (
            table, ", ".join(columns), ", ".join("?" * len(columns)),
            ", ".join(keyColumns),
            ", ".join("%s = excluded.%s" % (c, c) for c in valueColumns))

    def insertReturningId(self, transaction, sql, args):
        return transaction.execute(sql, args).lastrowid

    def idStep(self, transaction):
        """
        1: under ``BEGIN IMMEDIATE`` nobody else inserts, and AUTOINCREMENT
        gives each row of one INSERT the largest id so far plus one. One
        statement for the batch costs SQLite no round trip less, but it
        hands the GIL to the reactor and takes it back twice instead of
        twice per row, and each taking back waits for a busy reactor.
        """
        return 1

    def firstInsertedId(self, transaction, count):
        """SQLite's lastrowid is the last row of a multi-row INSERT."""
        return transaction.lastrowid - count + 1

    def forUpdate(self):
        return ""

    def forShare(self):
        """BEGIN IMMEDIATE already keeps every other writer out."""
        return ""

    def octetLength(self, column):
        """SQL for the length in bytes (not characters) of a text column."""
        return "LENGTH(CAST(%s AS BLOB))" % column

    def useIndex(self, index):
        """SQLite's planner already takes the range of the right index."""
        return ""

    def isDuplicateKey(self, error):
        return isinstance(error, sqlite3.IntegrityError)

    def isTransient(self, error):
        return False

    def isConnectionLost(self, error):
        return False

    def acquireSchemaLock(self, cursor):
        """BEGIN IMMEDIATE keeps a second process out until we commit."""

    def releaseSchemaLock(self, cursor):
        pass

    def commitBeforeSchemaUnlock(self, cursor):
        """The transaction's BEGIN IMMEDIATE is the lock: it ends with the commit."""

    def listTables(self, cursor):
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                       " AND name NOT LIKE 'sqlite!_%' ESCAPE '!'")
        return sorted(row[0] for row in cursor.fetchall())


# The MySQL drivers, by config name: (DB-API module, the package that brings
# it). mysqlclient speaks the protocol in the C client library and lets go of
# the GIL while it waits on the server; PyMySQL is pure Python and always
# installed. Both take the
# same ``%s`` paramstyle, connect() keywords and error classes at the
# module's top level (MySQLError, IntegrityError, OperationalError,
# InterfaceError).
MYSQL_DRIVERS = {"mysqlclient": "MySQLdb", "pymysql": "pymysql"}
MYSQL_DRIVER_PREFERENCE = ("mysqlclient", "pymysql")


def mysqlDriver(name="auto"):
    """(config name, DB-API module) of ``name``, or of the first importable for "auto"."""
    if name != "auto":
        if name not in MYSQL_DRIVERS:
            raise ValueError("unknown MySQL driver %r (expected one of: auto, %s)"
                             % (name, ", ".join(MYSQL_DRIVERS)))
        return name, importlib.import_module(MYSQL_DRIVERS[name])
    for candidate in MYSQL_DRIVER_PREFERENCE:
        try:
            return candidate, importlib.import_module(MYSQL_DRIVERS[candidate])
        except ImportError:
            continue
    raise ImportError("no MySQL driver installed (pip install mysqlclient or PyMySQL)")


_UNREAD = object()

# MySQL error numbers (include/mysqld_error.h, errmsg.h).
ER_DUP_ENTRY = 1062
ER_LOCK_WAIT_TIMEOUT = 1205
ER_LOCK_DEADLOCK = 1213
CR_CONN_HOST_ERROR = 2003
CR_SERVER_GONE_ERROR = 2006
CR_SERVER_LOST = 2013
CR_SERVER_LOST_EXTENDED = 2055
ER_CONNECTION_KILLED = 1927
ER_SERVER_SHUTDOWN = 1053


@implementer(IEngine)
class MysqlEngine:
    """
    MySQL 8 / MariaDB 10.6+ over mysqlclient, or PyMySQL where mysqlclient
    is not installed (``driver``): InnoDB, utf8mb4, a pool of connections
    that reconnects after the server went away.

    Connections run at READ COMMITTED so that a count made after taking a
    row lock sees every row committed before the lock was granted, and
    so that InnoDB takes no gap locks that would turn concurrent inserts
    into deadlocks.
    """

    name = "mysql"

    def __init__(self, host="127.0.0.1", port=3306, user="xmppd", password="",
                 database="xmppd", unix_socket=None, pool_size=5,
                 connect_timeout=10, driver="auto"):
        self.host = host
        self.port = int(port)
        self.user = user
        self.password = password
        self.database = database
        self.unixSocket = unix_socket
        self.poolSize = int(pool_size)
        self.connectTimeout = connect_timeout
        self.driverName, self.driver = mysqlDriver(driver)
        self._idStep = _UNREAD

    @property
    def driverErrors(self):
        return (self.driver.MySQLError,)

    def makePool(self):
        options = dict(
            host=self.host, port=self.port, user=self.user,
            password=self.password, database=self.database,
            charset="utf8mb4", autocommit=False,
            # Keys and salts are arbitrary bytes, not utf8mb4 text.
            binary_prefix=True,
            connect_timeout=self.connectTimeout,
            init_command="SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        if self.unixSocket:
            options["unix_socket"] = self.unixSocket
            # The C client library takes the socket only for "localhost"
            # and would otherwise still connect over TCP.
            options["host"] = "localhost"
        return adbapi.ConnectionPool(
            self.driver.__name__, cp_min=1, cp_max=self.poolSize, cp_noisy=False,
            # A connection that failed is dropped and replaced on its next
            # use, so the pool outlives a restart of the server.
            cp_reconnect=True, **options)

    def formatSql(self, sql):
        return _formatParamstyle(sql)

    def beginTransaction(self, cursor):
        """With autocommit off the first statement opens one."""

    def lockKey(self, transaction, table, column, value):
        # An INSERT that meets a duplicate key under ON DUPLICATE KEY UPDATE
        # takes an exclusive lock on that row at once, whether or not it
        # inserts; INSERT IGNORE followed by SELECT ... FOR UPDATE would take
        # a shared lock first, and two such upgrades deadlock each other.
        transaction.execute(
            "INSERT INTO %s (%s) VALUES (?) ON DUPLICATE KEY UPDATE %s = %s"
            % (table, column, column, column), (value,))

    def lockKeys(self, transaction, table, column, values):
        """
        As lockKey for each of ``values``, in one statement; the caller
        sorts them, so that two transactions lock in the same order.
        """
        transaction.execute(
            "INSERT INTO %s (%s) VALUES %s ON DUPLICATE KEY UPDATE %s = %s"
            % (table, column, ", ".join(["(?)"] * len(values)), column, column), values)

    def upsert(self, table, keyColumns, valueColumns):
        columns = list(keyColumns) + list(valueColumns)
        # VALUES() rather than the row alias: MariaDB knows only VALUES().
        return "INSERT INTO %s (%s) VALUES (%s) ON DUPLICATE KEY UPDATE %s" % (
            table, ", ".join(columns), ", ".join("?" * len(columns)),
            ", ".join("%s = VALUES(%s)" % (c, c) for c in valueColumns))

    def insertReturningId(self, transaction, sql, args):
        # LAST_INSERT_ID() of this connection, which PyMySQL reads from the
        # OK packet (MySQL 8 has no INSERT ... RETURNING).
        return transaction.execute(sql, args).lastrowid

    def idStep(self, transaction):
        """
        The step between the ids of the rows of one multi-row INSERT, or
        None if they need not be evenly spaced: with
        ``innodb_autoinc_lock_mode`` 0 or 1 (MariaDB's default) such an
        INSERT takes consecutive values, ``auto_increment_increment`` apart,
        and the driver's lastrowid is the first. Read once; both are the
        server's start-up settings.
        """
        if self._idStep is _UNREAD:
            row = transaction.execute(
                "SELECT @@innodb_autoinc_lock_mode, @@auto_increment_increment").fetchone()
            self._idStep = int(row[1]) if int(row[0]) in (0, 1) else None
        return self._idStep

    def firstInsertedId(self, transaction, count):
        """Both drivers' lastrowid is the first row of a multi-row INSERT."""
        return transaction.lastrowid

    def forUpdate(self):
        return " FOR UPDATE"

    def forShare(self):
        # MariaDB 10.11 knows no FOR SHARE.
        return " LOCK IN SHARE MODE"

    def octetLength(self, column):
        return "LENGTH(%s)" % column

    def useIndex(self, index):
        # MariaDB 10.11 reads an ORDER BY ... LIMIT query by ``ref`` on the
        # leading equality and filters the rest, scanning half an archive
        # for a page, when a range of the same index would seek.
        return " FORCE INDEX (%s)" % index

    def _code(self, error):
        args = getattr(error, "args", ())
        return args[0] if args and isinstance(args[0], int) else None

    def isDuplicateKey(self, error):
        return (isinstance(error, self.driver.IntegrityError)
                and self._code(error) == ER_DUP_ENTRY)

    def isTransient(self, error):
        """InnoDB rolled the transaction back to break a lock cycle."""
        return (isinstance(error, self.driver.OperationalError)
                and self._code(error) in (ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT))

    def isConnectionLost(self, error):
        if isinstance(error, self.driver.InterfaceError):
            return True
        return (isinstance(error, self.driver.OperationalError)
                and self._code(error) in (CR_SERVER_GONE_ERROR, CR_SERVER_LOST,
                                          CR_SERVER_LOST_EXTENDED,
                                          ER_CONNECTION_KILLED, ER_SERVER_SHUTDOWN))

    def acquireSchemaLock(self, cursor):
        # DDL commits implicitly in MySQL, so a transaction cannot keep two
        # nodes starting at once from applying the same delta; a named lock
        # can.
        cursor.execute("SELECT GET_LOCK('xmppd.schema', 60)")
        if cursor.fetchone()[0] != 1:
            raise RuntimeError("timed out waiting for the schema lock")

    def releaseSchemaLock(self, cursor):
        cursor.execute("SELECT RELEASE_LOCK('xmppd.schema')")
        cursor.fetchall()

    def commitBeforeSchemaUnlock(self, cursor):
        # The named lock outlives the transaction: what it guarded is
        # committed first, or the next holder reads the records without it.
        cursor.connection.commit()

    def listTables(self, cursor):
        cursor.execute("SHOW TABLES")
        return sorted(row[0] for row in cursor.fetchall())


def createEngine(backend, **options):
    if backend == "sqlite":
        return SqliteEngine(**options)
    if backend == "mysql":
        return MysqlEngine(**options)
    raise ValueError("unknown storage backend %r (expected 'sqlite' or 'mysql')"
                     % (backend,))
