"""
Fixtures shared by every test: a MariaDB server for the session and fresh
databases of either backend.

Fixtures for other tests to use:

``backend``
    Parametrised over "sqlite" and "mysql" (ids ``sqlite``/``mysql``):
    a test that takes it, directly or through ``database``, runs once per
    backend, as SPEC §8 asks ("same behaviour, same tests"). The offline,
    AMP, roster and presence integration tests run on ``WITH_MEMORY``, the
    memory stores too (``[storage] backend = "memory"``): a module file
    there overrides ``backend`` with ``backend_with_memory`` (the roster
    and AMP fixtures take it too). The other integration tests leave
    memory out, to keep CI short.
``database``
    A started ``xmppd.storage.Database`` of ``backend`` on an empty
    database of its own, stopped (and for MySQL dropped) afterwards.
``make_database``
    ``await make_database(backend, **extra)``: more started Databases on
    fresh databases, e.g. several in one test.
``make_database("memory")``
    A Database whose core and offline stores keep their rows in memory (the
    others run on an SQLite database in memory), as ``[storage] backend =
    "memory"`` gives.
``database_options``
    ``database_options(backend)`` returns the keyword arguments of
    ``Database(backend, **options)`` for a fresh, empty database, without
    opening it: what an integration test writes into the ``[storage]``
    section of the server it starts.
``mariadb``
    The session's MariaDB server. ``mariadb.stop()`` and ``mariadb.start()``
    stop it and bring it back on the same port and data directory (they
    block until done), for tests of storage failures; ``restartable`` is
    False on an external server given by XMPPD_TEST_MYSQL_HOST, _PORT,
    _USER and _PASSWORD, and stop() then skips the test.

The MySQL tests run on the engine's default driver (mysqlclient when it is
installed, else PyMySQL); ``XMPPD_TEST_MYSQL_DRIVER=pymysql`` (or
``mysqlclient``) runs them on the one named, so that both are proven.

Without ``mariadbd`` the MySQL tests are skipped, unless CI=true, where they
fail: a CI run that silently tested one backend would prove nothing.
"""

import atexit
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pymysql
import pytest
import pytest_twisted

from xmppd.storage import Database

BACKENDS = ["sqlite", "mysql"]
WITH_MEMORY = ["memory", "sqlite", "mysql"]
STARTUP_TIMEOUT = 30
SHUTDOWN_TIMEOUT = 30
TEST_USER = "xmppd_test"
TEST_PASSWORD = "xmppd-test-password"

_databaseNumbers = itertools.count(1)


def _inCI():
    return os.environ.get("CI", "").lower() == "true"


def _findProgram(name):
    # Debian installs the server in /usr/sbin, which is not on every PATH.
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/usr/local/sbin"
    return shutil.which(name, path=path)


def _freePort():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MariaDBServer:
    """A MySQL-compatible server the tests may create databases on."""

    restartable = False

    def __init__(self, host, port, user, password, unixSocket=None):
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.unixSocket = unixSocket

    def connect(self, **options):
        return pymysql.connect(host=self.host, port=self.port, user=self.user,
                               password=self.password, charset="utf8mb4",
                               autocommit=True, **options)

    def databaseOptions(self, database):
        options = dict(host=self.host, port=self.port, user=self.user,
                       password=self.password, database=database)
        driver = os.environ.get("XMPPD_TEST_MYSQL_DRIVER")
        if driver:
            options["driver"] = driver
        return options

    def createDatabase(self):
        name = "xmppd_test_%d_%d" % (os.getpid(), next(_databaseNumbers))
        with self.connect() as connection, connection.cursor() as cursor:
            cursor.execute("DROP DATABASE IF EXISTS `%s`" % name)
            cursor.execute("CREATE DATABASE `%s` CHARACTER SET utf8mb4"
                           " COLLATE utf8mb4_bin" % name)
        return name

    def dropDatabase(self, name):
        with self.connect() as connection, connection.cursor() as cursor:
            cursor.execute("DROP DATABASE IF EXISTS `%s`" % name)

    def stop(self):
        pytest.skip("the MariaDB server is external and cannot be stopped")

    def start(self):
        pytest.skip("the MariaDB server is external and cannot be started")

    def close(self):
        pass


class ThrowawayMariaDB(MariaDBServer):
    """
    A private mariadbd on a free port with its data in a temporary
    directory, so the tests need no configured server and leave nothing.
    """

    restartable = True

    def __init__(self, mariadbd, installDb):
        self.mariadbd = mariadbd
        self.installDb = installDb
        self.directory = tempfile.mkdtemp(prefix="xmppd-mariadb-")
        self.dataDir = os.path.join(self.directory, "data")
        self.logFile = os.path.join(self.directory, "error.log")
        self.process = None
        # Should pytest die before the session's teardown, leave no server.
        atexit.register(self.close)
        MariaDBServer.__init__(self, "127.0.0.1", _freePort(), TEST_USER, TEST_PASSWORD,
                               unixSocket=os.path.join(self.directory, "mysqld.sock"))

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None

    def _asRoot(self):
        # mariadbd refuses to run as root unless told to on purpose.
        return ["--user=root"] if os.geteuid() == 0 else []

    def install(self):
        result = subprocess.run(
            [self.installDb, "--no-defaults", "--auth-root-authentication-method=normal",
             "--datadir=" + self.dataDir, "--skip-test-db"] + self._asRoot(),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if result.returncode != 0:
            raise RuntimeError("mariadb-install-db failed:\n" + result.stdout[-3000:])
        self.start()
        with self._rootConnection() as connection, connection.cursor() as cursor:
            for host in ("127.0.0.1", "localhost"):
                cursor.execute("CREATE USER %s@%s IDENTIFIED BY %s",
                               (self.user, host, self.password))
                cursor.execute("GRANT ALL PRIVILEGES ON *.* TO %s@%s", (self.user, host))

    def _rootConnection(self):
        return pymysql.connect(unix_socket=self.unixSocket, user="root", password="",
                               autocommit=True, connect_timeout=2)

    def start(self):
        """Start the server and block until it accepts connections."""
        if self.running:
            return
        self.process = subprocess.Popen(
            [self.mariadbd, "--no-defaults", "--datadir=" + self.dataDir,
             "--socket=" + self.unixSocket, "--port=%d" % self.port,
             "--bind-address=127.0.0.1", "--skip-networking=0",
             "--pid-file=" + os.path.join(self.directory, "mariadbd.pid"),
             "--log-error=" + self.logFile] + self._asRoot(),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError("mariadbd exited with %d:\n%s"
                                   % (self.process.returncode, self.logTail()))
            try:
                self._rootConnection().close()
                return
            except pymysql.err.OperationalError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("mariadbd did not accept connections within"
                                       " %d s:\n%s" % (STARTUP_TIMEOUT, self.logTail()))
                time.sleep(0.1)

    def stop(self):
        """Shut the server down cleanly and block until it has exited."""
        if not self.running:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(SHUTDOWN_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def logTail(self):
        try:
            with open(self.logFile, encoding="utf-8", errors="replace") as log:
                return log.read()[-3000:]
        except OSError:
            return "(no error log)"

    def close(self):
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def _externalServer():
    host = os.environ.get("XMPPD_TEST_MYSQL_HOST")
    if not host:
        return None
    return MariaDBServer(host, int(os.environ.get("XMPPD_TEST_MYSQL_PORT", "3306")),
                         os.environ.get("XMPPD_TEST_MYSQL_USER", "root"),
                         os.environ.get("XMPPD_TEST_MYSQL_PASSWORD", ""))


@pytest.fixture(scope="session")
def mariadb():
    server = _externalServer()
    if server is None:
        mariadbd, installDb = _findProgram("mariadbd"), _findProgram("mariadb-install-db")
        if mariadbd is None or installDb is None:
            reason = ("mariadbd and mariadb-install-db are not installed, so the MySQL"
                      " backend cannot be tested (Debian: apt-get install mariadb-server,"
                      " or set XMPPD_TEST_MYSQL_HOST/PORT/USER/PASSWORD)")
            if _inCI():
                pytest.fail(reason, pytrace=False)
            pytest.skip(reason)
        server = ThrowawayMariaDB(mariadbd, installDb)
        try:
            server.install()
        except Exception as error:
            server.close()
            pytest.fail("could not start a MariaDB server for the tests: %s" % (error,),
                        pytrace=False)
    yield server
    server.close()


@pytest.fixture(params=BACKENDS, ids=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture(params=WITH_MEMORY, ids=WITH_MEMORY)
def backend_with_memory(request):
    return request.param


@pytest.fixture
def xmpp_backend():
    """What the ``xmpp`` fixture's server stores on; a module may override it."""
    return "sqlite"


@pytest.fixture
def database_options(request, tmp_path):
    created = []
    server = None

    def databaseOptions(backend):
        nonlocal server
        if backend == "memory":
            return {}
        if backend == "sqlite":
            return dict(path=str(tmp_path / ("xmppd-%d.sqlite" % next(_databaseNumbers))))
        if backend == "mysql":
            server = request.getfixturevalue("mariadb")
            name = server.createDatabase()
            created.append(name)
            return server.databaseOptions(name)
        raise ValueError("unknown backend %r" % (backend,))

    yield databaseOptions
    if created:
        if server.restartable and not server.running:
            # A storage-failure test that failed before restarting the server.
            server.start()
        for name in created:
            server.dropDatabase(name)


@pytest_twisted.async_yield_fixture
async def make_database(database_options):
    started = []

    async def makeDatabase(backend, **extra):
        options = database_options(backend)
        options.update(extra)
        database = Database(backend, **options)
        await database.start()
        started.append(database)
        return database

    yield makeDatabase
    for database in started:
        await database.stop()


@pytest_twisted.async_yield_fixture
async def database(backend, make_database):
    yield await make_database(backend)


@pytest_twisted.async_yield_fixture
async def xmpp(make_database, tmp_path, xmpp_backend):
    """A running server on ``xmpp_backend`` (SQLite) with users alice, bob and carol."""
    # Imported here: Wokkel imports the reactor, which pytest-twisted must
    # install (asyncio) before anything else does.
    from tests.harness import startServer

    database = await make_database(xmpp_backend)
    running = await startServer(database, tmp_path)
    for name in ("alice", "bob", "carol"):
        await running.addUser(name, "secret-" + name)
    yield running
    await running.stop()


@pytest_twisted.async_yield_fixture
async def serve(make_database, tmp_path):
    """
    ``await serve(backend, offline={...}, **tables)``: a running server on a
    fresh database of ``backend`` with users alice, bob, carol, dave and
    erin (password "secret-NAME"); ``offline`` is [modules.offline], other
    keyword arguments are whole config tables (``modules`` included).
    """
    # Imported here: Wokkel imports the reactor, which pytest-twisted must
    # install (asyncio) before anything else does.
    from tests.aio import wait
    from tests.harness import startServer

    running = []

    async def start(backend, offline=None, users=("alice", "bob", "carol", "dave", "erin"),
                    **tables):
        database = await wait(make_database(backend))
        config = dict(tables)
        if offline is not None:
            modules = dict(config.get("modules", {}))
            modules["offline"] = dict(modules.get("offline", {}), **offline)
            config["modules"] = modules
        server = await wait(startServer(database, tmp_path / ("server-%d" % len(running)),
                                        config))
        running.append(server)
        for name in users:
            await wait(server.addUser(name, "secret-" + name))
        return server

    # ``start`` is awaited from asyncio test bodies (tests.aio.asyncioTest).
    yield start
    for server in running:
        await server.stop()
