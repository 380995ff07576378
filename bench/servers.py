"""
The servers under test, each on its own loopback port with fresh data:
xmppd on SQLite and on a throwaway MariaDB, and the lab peers (Prosody,
ejabberd, in ``bench.labpeers``) started by the shared peers scripts.

Each server object knows how to start and stop itself, its PID (for RSS)
and how to count the offline messages it has stored -- from its storage,
never by logging a recipient in:

- xmppd/SQLite: ``SELECT COUNT(*) FROM offline_messages WHERE recipient
  IN (...)`` on its WAL database (WAL readers never block its writer);
- xmppd/MariaDB: the same query over PyMySQL;
- Prosody (default ``internal`` storage): the ``item(`` records in the
  recipients' ``offline/USER.list`` archive files, which it appends to per
  message;
- ejabberd (``EJABBERD_DB=sqlite``): ``SELECT COUNT(*) FROM spool WHERE
  username IN (...)`` on its SQLite file, opened ``immutable`` so that the
  poll takes no lock that could make ejabberd's writer fail; a count read
  mid-commit may lag, never lead, and the final value is read again once
  writes stop.

Only the scenario's recipients are counted, through each store's index on
the recipient: a count of the whole store would scan the growth scenario's
million rows twenty times a second, on the machine under test.

``prefill(rows, accounts)`` is the growth scenario's set-up: ``rows``
offline messages for ``accounts`` other users, written straight into the
server's storage in bulk (SQL for xmppd and ejabberd, archive files for
Prosody), not through XMPP. ``settle()`` runs on both servers of a growth
comparison, the empty control and the grown one, before their rounds, so
that neither meets writes still on their way to disk: the kernel's dirty
pages flushed, SQLite's WAL folded into the database, InnoDB's dirty pages
written.
"""

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def freePort():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def waitPort(port, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("nothing listens on 127.0.0.1:%d after %d s" % (port, timeout))


def rssBytes(pid):
    """Resident memory of a process and its descendants."""
    total = 0
    for p in [pid] + _children(pid):
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def cpuSeconds(pid):
    """
    CPU time of a process and its descendants, in seconds: the scheduler's
    nanoseconds on CPU of each live thread (``/proc/PID/task/TID/schedstat``),
    where ``/proc/PID/stat``'s user and system times count in ticks of 10 ms,
    a tenth of what a 10,000 drain costs xmppd. A thread that ends between
    two readings takes its time with it; the servers' threads (reactor,
    database pools, Erlang's schedulers) live as long as they do.
    """
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for p in [pid] + _children(pid):
        try:
            tasks = os.listdir("/proc/%d/task" % p)
        except OSError:
            continue
        nanoseconds = None
        for task in tasks:
            try:
                with open("/proc/%d/task/%s/schedstat" % (p, task)) as f:
                    nanoseconds = (nanoseconds or 0) + int(f.read().split()[0])
            except (OSError, IndexError, ValueError):
                pass
        if nanoseconds is not None:
            total += nanoseconds / 1e9
            continue
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def mainThreadCpuSeconds(pid):
    """CPU time of a process's main thread alone (xmppd's reactor), or None."""
    try:
        with open("/proc/%d/task/%d/schedstat" % (pid, pid)) as f:
            return int(f.read().split()[0]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


def _children(pid):
    """
    A process's descendants, from ``/proc/PID/task/TID/children``: no
    ``pgrep`` to fork, whose milliseconds came between a scenario's start
    and the CPU reading that should mark it.
    """
    found = []
    try:
        out = ""
        for task in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                out += " " + f.read()
    except FileNotFoundError:
        try:
            out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                                 text=True).stdout
        except OSError:
            return found
    except OSError:
        return found
    for child in out.split():
        found.append(int(child))
        found += _children(int(child))
    return found


def _findProgram(name):
    return shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/usr/local/sbin")


# The growth scenario's stored rows: what xmppd stores for one chat message
# of the benchmark, delay included (about 300 bytes).
# Attributes in double quotes: the text goes into SQL string literals.
FILLER_XML = ('<message to="{to}" type="chat" id="fill{n}" from="filler@localhost/bench">'
              '<body>bench message {n} from filler, stored before the run</body>'
              '<delay xmlns="urn:xmpp:delay" from="localhost" stamp="2026-01-01T00:00:00.000000Z">'
              'Offline Storage</delay></message>')
FILLER_PREFIX = "grow"


def fillerAccount(k):
    return "%s%d" % (FILLER_PREFIX, k)


class Server:
    keepsDataOnRestart = True
    name = None
    port = None
    pid = None
    domain = "localhost"

    def storedCount(self, recipients):
        """Offline messages stored for ``recipients`` (local parts)."""
        raise NotImplementedError

    def prefill(self, rows, accounts, template):
        """
        ``rows`` offline messages spread over ``accounts`` accounts that no
        scenario uses, straight into storage; ``template`` is a registered
        user whose credentials the new accounts copy where that is cheap.
        """
        raise NotImplementedError

    def settle(self):
        """Storage written so far on disk, no background flushing left to run."""
        os.sync()

    def serverPids(self):
        return [self.pid]

    def databaseCpu(self):
        """CPU seconds of a database server of its own (xmppd's MariaDB), or None."""
        return None

    def reactorCpu(self):
        """CPU seconds of the server's event loop thread, where it has one of its own."""
        return None

    def rss(self):
        return sum(rssBytes(p) for p in self.serverPids())

    def cpu(self):
        return sum(cpuSeconds(p) for p in self.serverPids())


def terminate(processes, timeout):
    """SIGTERM to every process still running, then SIGKILL to any that outlives ``timeout``."""
    running = [p for p in processes if p is not None and p.poll() is None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    for process in running:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# xmppd ---------------------------------------------------------------------------

BENCH_CONFIG = """\
# Generated by bench/run.py for one benchmark run.
[server]
hosts = ["localhost"]
data_dir = "{dataDir}"

[c2s]
interface = "127.0.0.1"
port = {port}
max_connections = 0
max_connections_per_ip = 0
auth_timeout = "300s"
rate_limit_bytes_per_second = 0
ip_rate_limit_bytes_per_second = 0
{c2sExtra}
[storage]
backend = "{backend}"
{storageExtra}

[access]
max_user_offline_messages = [{{ acl = "all", value = "infinity" }}]

[modules.offline]
pair_limit = 1000000
max_user_bytes = 0

[modules.register]
enabled = true
min_seconds_between_registrations = 0
{extra}"""


# The InnoDB buffer pool of the benchmark's xmppd/MariaDB: the growth
# scenario's million rows and their four secondary indexes take about half a
# gigabyte, and an operator sizes the pool to the working set. (A drain
# reads the newest rows, which 256 MiB held too; what else a round touches,
# the prefill's flush and the indexes' inner pages, no longer has to.)
BENCH_BUFFER_POOL = "1G"


def sqliteCheckpoint(path):
    """Fold a WAL database's log into it (a no-op in other journal modes)."""
    conn = sqlite3.connect(path, timeout=60)
    try:
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


class MariaDB:
    """A private mariadbd for the xmppd/MariaDB run (as tests/conftest.py starts one)."""

    def __init__(self, workDir, bufferPool="256M"):
        self.dir = os.path.join(workDir, "mariadb")
        self.bufferPool = bufferPool
        os.makedirs(self.dir, exist_ok=True)
        self.port = freePort()
        self.socket = os.path.join(self.dir, "mysqld.sock")
        self.process = None

    def _asRoot(self):
        return ["--user=root"] if os.geteuid() == 0 else []

    def start(self):
        installDb, mariadbd = _findProgram("mariadb-install-db"), _findProgram("mariadbd")
        if not installDb or not mariadbd:
            raise RuntimeError("mariadb-install-db/mariadbd not installed")
        data = os.path.join(self.dir, "data")
        subprocess.run([installDb, "--no-defaults", "--auth-root-authentication-method=normal",
                        "--datadir=" + data, "--skip-test-db"] + self._asRoot(),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.process = subprocess.Popen(
            [mariadbd, "--no-defaults", "--datadir=" + data, "--socket=" + self.socket,
             "--port=%d" % self.port, "--bind-address=127.0.0.1",
             "--pid-file=" + os.path.join(self.dir, "mariadbd.pid"),
             "--log-error=" + os.path.join(self.dir, "error.log"),
             "--innodb-buffer-pool-size=" + self.bufferPool] + self._asRoot(),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        import pymysql
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = pymysql.connect(unix_socket=self.socket, user="root", password="",
                                       autocommit=True)
                break
            except pymysql.err.OperationalError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("mariadbd did not start")
                time.sleep(0.2)
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE xmppd CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
            for host in ("127.0.0.1", "localhost"):
                cur.execute("CREATE USER 'xmppd'@'%s' IDENTIFIED BY 'bench'" % host)
                cur.execute("GRANT ALL PRIVILEGES ON xmppd.* TO 'xmppd'@'%s'" % host)
        conn.close()

    def flushDirtyPages(self, timeout=300):
        """
        Write every dirty page of the buffer pool now: after a bulk insert
        InnoDB flushes the rest in the background at its I/O capacity for
        minutes, and the rounds measured meanwhile would pay for it.
        """
        import pymysql
        conn = pymysql.connect(unix_socket=self.socket, user="root", password="",
                               autocommit=True)
        try:
            with conn.cursor() as cur:
                # At the default I/O capacity (200 pages a second) the million
                # rows' pages would take minutes to write.
                settings = ("innodb_max_dirty_pages_pct", "innodb_io_capacity_max",
                            "innodb_io_capacity")
                cur.execute("SELECT " + ", ".join("@@GLOBAL." + v for v in settings))
                saved = dict(zip(settings, cur.fetchone()))
                cur.execute("SET GLOBAL innodb_io_capacity_max = 100000")
                cur.execute("SET GLOBAL innodb_io_capacity = 100000")
                cur.execute("SET GLOBAL innodb_max_dirty_pages_pct = 0")
                try:
                    deadline = time.monotonic() + timeout
                    while time.monotonic() < deadline:
                        cur.execute("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'")
                        if int(cur.fetchone()[1]) == 0:
                            break
                        time.sleep(0.2)
                finally:
                    for name in settings:
                        cur.execute("SET GLOBAL %s = %%s" % name, (saved[name],))
        finally:
            conn.close()

    def stop(self):
        terminate([self.process], 60)


class Xmppd(Server):
    def __init__(self, workDir, backend="sqlite", profile=None, driver=None, name=None):
        self.backend = backend
        self.driver = driver
        self.name = name or "xmppd-" + backend
        self.dir = os.path.join(workDir, self.name)
        self.profile = profile
        self.mariadb = None
        self.process = None
        self.profiler = None

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        self.port = freePort()
        extra = ""
        if self.backend == "mysql":
            self.mariadb = MariaDB(self.dir, BENCH_BUFFER_POOL)
            self.mariadb.start()
            extra = ('[storage.mysql]\nhost = "127.0.0.1"\nport = %d\nuser = "xmppd"\n'
                     'password = "bench"\ndatabase = "xmppd"\n' % self.mariadb.port)
            if self.driver:
                extra += 'driver = "%s"\n' % self.driver
        self.config = os.path.join(self.dir, "bench.toml")
        with open(self.config, "w") as f:
            f.write(BENCH_CONFIG.format(dataDir=os.path.join(self.dir, "data"),
                                        port=self.port, backend=self.backend,
                                        storageExtra=extra, c2sExtra="",
                                        # XMPPD_BENCH_CONFIG: TOML tables added to the
                                        # config, for A/B runs of one setting.
                                        extra=os.environ.get("XMPPD_BENCH_CONFIG", "")))
        self._spawn()

    def _spawn(self):
        cmd = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
               "-n", "--pidfile=", "--logfile", os.path.join(self.dir, "xmppd.log"),
               "xmppd", "--config", self.config]
        # XMPPD_BENCH_SOURCE: another checkout's xmppd (before/after runs).
        source = os.environ.get("XMPPD_BENCH_SOURCE") or REPO
        self.process = subprocess.Popen(cmd, cwd=source, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True)
        self.pid = self.process.pid
        waitPort(self.port)
        self._sqlite = None
        self._mysql = None

    def restart(self):
        """A fresh server process on the same data (for memory measurements)."""
        for conn in (self._sqlite, self._mysql):
            if conn is not None:
                conn.close()
        self._stopProcess()
        self._spawn()

    def startProfile(self, outFile, seconds=None):
        """py-spy on the server while a scenario runs (``stopProfile`` ends it)."""
        spy = shutil.which("py-spy")
        if spy is None:
            raise RuntimeError("py-spy is not installed (pip install py-spy)")
        # XMPPD_BENCH_PYSPY_ARGS: other py-spy options, e.g. "--native" to
        # see C frames (OpenSSL, the GC); py-spy then has to pause the process
        # for each sample, so --nonblocking is left out.
        extra = os.environ.get("XMPPD_BENCH_PYSPY_ARGS", "").split()
        cmd = [spy, "record", "--pid", str(self.pid), "--rate", "200",
               "--format", "speedscope" if outFile.endswith(".json") else "raw",
               "--output", outFile] + (extra or ["--nonblocking"])
        self.profiler = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)

    def stopProfile(self):
        if self.profiler is not None:
            self.profiler.send_signal(signal.SIGINT)
            try:
                self.profiler.wait(30)
            except subprocess.TimeoutExpired:
                self.profiler.kill()
            self.profiler = None

    @property
    def sqlitePath(self):
        return os.path.join(self.dir, "data", "xmppd.sqlite")

    def _mysqlConnection(self):
        import pymysql
        if self._mysql is None:
            self._mysql = pymysql.connect(unix_socket=self.mariadb.socket, user="root",
                                          password="", database="xmppd", autocommit=True)
        return self._mysql

    def storedCount(self, recipients):
        jids = ["%s@%s" % (r, self.domain) for r in recipients]
        sql = ("SELECT COUNT(*) FROM offline_messages WHERE recipient IN (%s)"
               % ", ".join(["?"] * len(jids)))
        if self.backend == "sqlite":
            if self._sqlite is None:
                self._sqlite = sqlite3.connect("file:%s?mode=ro" % self.sqlitePath, uri=True,
                                               timeout=30)
            return self._sqlite.execute(sql, jids).fetchone()[0]
        with self._mysqlConnection().cursor() as cur:
            cur.execute(sql.replace("?", "%s"), jids)
            return cur.fetchone()[0]

    def reactorCpu(self):
        return mainThreadCpuSeconds(self.pid)

    def databaseCpu(self):
        if self.mariadb is None or self.mariadb.process is None:
            return None
        return cpuSeconds(self.mariadb.process.pid)

    def settle(self):
        """
        On SQLite the WAL folded into the database: after the prefill the
        server's next commit would otherwise checkpoint a million rows. On
        MariaDB the buffer pool's dirty pages written.
        """
        Server.settle(self)
        if self.backend == "sqlite":
            sqliteCheckpoint(self.sqlitePath)
        elif self.mariadb is not None:
            self.mariadb.flushDirtyPages()
        os.sync()

    def prefill(self, rows, accounts, template):
        """One INSERT ... SELECT over a generated series per table, in C."""
        users = [fillerAccount(k) for k in range(accounts)]
        xml = FILLER_XML.format(to="'||recipient||'", n="'||n||'")
        if self.backend == "sqlite":
            conn = sqlite3.connect(self.sqlitePath, timeout=60)
            try:
                series = ("WITH RECURSIVE series(n) AS (SELECT 0 UNION ALL"
                          " SELECT n + 1 FROM series WHERE n < ?)")
                columns = [c[1] for c in conn.execute("PRAGMA table_info(users)")]
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(
                    series + " INSERT INTO users (%s) SELECT %s FROM users, series"
                    " WHERE users.jid = ?" % (
                        ", ".join(columns),
                        ", ".join("'%s' || series.n || '@%s'" % (FILLER_PREFIX, self.domain)
                                  if c == "jid" else "users." + c for c in columns)),
                    (accounts - 1, "%s@%s" % (template, self.domain)))
                conn.execute(
                    series + " INSERT INTO offline_messages"
                    " (recipient, sender, stored_at, expires_at, xml)"
                    " SELECT recipient, 'filler@localhost', 1767225600000000 + n, NULL,"
                    " '%s' FROM (SELECT n, '%s' || (n %% ?) || '@%s' AS recipient FROM series)"
                    % (xml, FILLER_PREFIX, self.domain), (rows - 1, accounts))
                conn.execute("COMMIT")
            finally:
                conn.close()
        else:
            xmlSql = FILLER_XML.format(to="', recipient, '", n="', n, '")
            conn = self._mysqlConnection()
            with conn.cursor() as cur:
                cur.execute("SHOW COLUMNS FROM users")
                columns = [row[0] for row in cur.fetchall()]
                cur.execute("BEGIN")
                cur.execute(
                    "INSERT INTO users (%s) SELECT %s FROM users, seq_0_to_%d AS series"
                    " WHERE users.jid = %%s" % (
                        ", ".join(columns),
                        ", ".join("CONCAT('%s', series.seq, '@%s')" % (FILLER_PREFIX, self.domain)
                                  if c == "jid" else "users." + c for c in columns),
                        accounts - 1),
                    ("%s@%s" % (template, self.domain),))
                cur.execute(
                    "INSERT INTO offline_messages (recipient, sender, stored_at, expires_at, xml)"
                    " SELECT recipient, 'filler@localhost', 1767225600000000 + n, NULL,"
                    " CONCAT('%s') FROM (SELECT seq AS n, CONCAT('%s', seq %% %d, '@%s')"
                    " AS recipient FROM seq_0_to_%d) AS series"
                    % (xmlSql, FILLER_PREFIX, accounts, self.domain, rows - 1))
                cur.execute("COMMIT")
        return users

    def stop(self):
        self.stopProfile()
        for conn in (self._sqlite, self._mysql):
            if conn is not None:
                conn.close()
        self._stopProcess()
        if self.mariadb is not None:
            self.mariadb.stop()

    def _stopProcess(self):
        terminate([self.process], 30)


class Redis:
    """A private redis-server that saves nothing (as tests/cluster/conftest.py starts one)."""

    def __init__(self, workDir):
        self.dir = os.path.join(workDir, "redis")
        os.makedirs(self.dir, exist_ok=True)
        self.port = freePort()
        self.process = None

    @property
    def url(self):
        return "redis://127.0.0.1:%d/0" % self.port

    def start(self):
        program = _findProgram("redis-server")
        if not program:
            raise RuntimeError("redis-server not installed (apt-get install redis-server)")
        self.process = subprocess.Popen(
            [program, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--logfile",
             os.path.join(self.dir, "redis.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        waitPort(self.port)

    def stop(self):
        terminate([self.process], 30)


class XmppdCluster(Xmppd):
    """
    xmppd as ``nodes`` cluster nodes on one MariaDB and one Redis, all
    listening on one port with ``[c2s] reuse_port`` (docs/operators.md,
    "Two nodes on one machine"): the load spreads over them as Linux
    spreads the connections. ``xmppd-cluster1`` is the same with one node,
    to weigh what the cluster machinery costs.
    """

    def __init__(self, workDir, nodes):
        Xmppd.__init__(self, workDir, "mysql")
        self.nodes = nodes
        self.name = "xmppd-cluster%d" % nodes
        self.dir = os.path.join(workDir, self.name)
        self.redis = None
        self.processes = []

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        self.port = freePort()
        self.mariadb = MariaDB(self.dir, BENCH_BUFFER_POOL)
        self.mariadb.start()
        self.redis = Redis(self.dir)
        self.redis.start()
        storage = ('[storage.mysql]\nhost = "127.0.0.1"\nport = %d\nuser = "xmppd"\n'
                   'password = "bench"\ndatabase = "xmppd"\n' % self.mariadb.port)
        self.configs = []
        for n in range(1, self.nodes + 1):
            config = os.path.join(self.dir, "node%d.toml" % n)
            with open(config, "w") as f:
                f.write(BENCH_CONFIG.format(
                    dataDir=os.path.join(self.dir, "data%d" % n), port=self.port,
                    backend="mysql", storageExtra=storage, c2sExtra="reuse_port = true\n",
                    extra='\n[cluster]\nredis = "%s"\nnode = "node%d"\n' % (self.redis.url, n)))
            self.configs.append(config)
        self._spawn()

    def _spawn(self):
        self.processes = []
        for n, config in enumerate(self.configs, 1):
            logFile = os.path.join(self.dir, "xmppd-node%d.log" % n)
            cmd = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
                   "-n", "--pidfile=", "--logfile", logFile, "xmppd", "--config", config]
            source = os.environ.get("XMPPD_BENCH_SOURCE") or REPO
            self.processes.append(subprocess.Popen(
                cmd, cwd=source, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True))
            # One at a time: a node cleans up after nothing and joins, then the next.
            self._waitListening(logFile)
        self.pid = self.processes[0].pid
        self._sqlite = None
        self._mysql = None

    def _waitListening(self, logFile, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open(logFile, encoding="utf-8", errors="replace") as f:
                    if "ClientStreamFactory starting on" in f.read():
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("a cluster node did not listen within %d s (%s)" % (timeout, logFile))

    def serverPids(self):
        return [p.pid for p in self.processes]

    def restart(self):
        for conn in (self._sqlite, self._mysql):
            if conn is not None:
                conn.close()
        self._stopProcess()
        self._spawn()

    def _stopProcess(self):
        terminate(self.processes, 30)

    def stop(self):
        Xmppd.stop(self)
        if self.redis is not None:
            self.redis.stop()


def makeServer(name, workDir, peersDir):
    if name == "xmppd-sqlite":
        return Xmppd(workDir, "sqlite")
    if name == "xmppd-mysql":
        return Xmppd(workDir, "mysql")
    if name.startswith("xmppd-cluster") and name[len("xmppd-cluster"):].isdigit():
        return XmppdCluster(workDir, int(name[len("xmppd-cluster"):]))
    if name in ("xmppd-pymysql", "xmppd-mysqlclient"):
        # The MySQL drivers side by side (xmppd-mysql takes the default).
        return Xmppd(workDir, "mysql", driver=name[6:], name=name)
    if name in ("prosody", "ejabberd"):
        from bench.labpeers import Ejabberd, Prosody
        return {"prosody": Prosody, "ejabberd": Ejabberd}[name](workDir, peersDir)
    raise ValueError("unknown server %r" % name)


def newWorkDir():
    return tempfile.mkdtemp(prefix="xmppd-bench-")
