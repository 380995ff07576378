"""
Fixtures of the cluster tests (issue 17).

``redis``
    The session's throwaway ``redis-server`` (a free port on 127.0.0.1 and
    a unix socket, ``--save ''``, its directory in /tmp): ``redis.url`` and
    ``redis.socketPath`` for
    ``[cluster] redis``, ``redis.restart()`` (SIGKILL and start again on
    the same port: with nothing saved, Redis comes back empty, as after a
    crash), ``redis.flush()`` between tests, ``redis.command(...)`` for a
    test's own look. Without ``redis-server`` the tests are skipped,
    unless CI=true, where they fail (Debian: apt-get install redis-server).
``cluster``
    ``await cluster(3, config={...}, accounts=(...))``: that many xmppd
    nodes in processes of their own (tests/reliability/procserver.py), on
    one fresh MariaDB database and the session's Redis, as a ``Cluster``
    of ``NodeTarget``s for tests/reliability's scenarios.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import pytest_twisted

STARTUP_TIMEOUT = 15


def _inCI():
    return os.environ.get("CI", "").lower() == "true"


def _freePort():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def encodeCommand(*args):
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out += [b"$%d\r\n" % len(data), data, b"\r\n"]
    return b"".join(out)


class ThrowawayRedis:
    """A private redis-server that saves nothing, so a restart comes back empty."""

    def __init__(self, program):
        self.program = program
        self.directory = tempfile.mkdtemp(prefix="xmppd-redis-")
        self.port = _freePort()
        self.process = None
        self.logFile = os.path.join(self.directory, "redis.log")

    @property
    def url(self):
        return "redis://127.0.0.1:%d/0" % self.port

    @property
    def socketPath(self):
        return os.path.join(self.directory, "redis.sock")

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None

    def start(self):
        self.process = subprocess.Popen(
            [self.program, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.directory, "--logfile", self.logFile,
             "--daemonize", "no", "--unixsocket", self.socketPath, "--unixsocketperm", "700"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError("redis-server exited with %d" % self.process.returncode)
            try:
                if self.command("PING") == b"PONG":
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("redis-server did not answer within %d s" % STARTUP_TIMEOUT)
            time.sleep(0.05)

    def stop(self):
        if self.running:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def restart(self, downFor=0.0):
        """Kill Redis and start it again, empty, on the same port."""
        self.stop()
        if downFor:
            time.sleep(downFor)
        self.start()

    def command(self, *args):
        """One command over a fresh connection; the reply, roughly parsed."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as conn:
            conn.sendall(encodeCommand(*args))
            data = b""
            while not data.endswith(b"\r\n") or not _complete(data):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
        return _parse(data)[0]

    def flush(self):
        self.command("FLUSHALL")

    def close(self):
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def _complete(data):
    try:
        _parse(data)
        return True
    except (IndexError, ValueError):
        return False


def _parse(data, position=0):
    kind = data[position:position + 1]
    end = data.index(b"\r\n", position)
    line = data[position + 1:end]
    position = end + 2
    if kind == b"+":
        return line, position
    if kind == b"-":
        return RuntimeError(line.decode()), position
    if kind == b":":
        return int(line), position
    if kind == b"$":
        length = int(line)
        if length < 0:
            return None, position
        if len(data) < position + length + 2:
            raise ValueError("incomplete")
        return data[position:position + length], position + length + 2
    if kind == b"*":
        count = int(line)
        if count < 0:
            return None, position
        items = []
        for _ in range(count):
            item, position = _parse(data, position)
            items.append(item)
        return items, position
    raise ValueError("incomplete")


@pytest.fixture(scope="session")
def redis_server():
    program = shutil.which("redis-server")
    if program is None:
        reason = ("redis-server is not installed, so the cluster cannot be tested"
                  " (Debian: apt-get install redis-server)")
        if _inCI():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    server = ThrowawayRedis(program)
    try:
        server.start()
    except Exception as error:
        server.close()
        pytest.fail("could not start a Redis server for the tests: %s" % (error,), pytrace=False)
    yield server
    server.close()


@pytest.fixture
def redis(redis_server):
    if not redis_server.running:
        redis_server.start()
    redis_server.flush()
    yield redis_server
    if not redis_server.running:
        redis_server.start()


@pytest_twisted.async_yield_fixture
async def cluster(redis, database_options, tmp_path):
    from tests.cluster.nodes import startCluster, stopCluster
    started = []

    async def start(count, config=None, accounts=None, **options):
        running = await startCluster(redis, database_options, tmp_path / ("c%d" % len(started)),
                                     count, config, accounts, **options)
        started.append(running)
        return running

    yield start
    import asyncio
    from twisted.internet.defer import Deferred
    for running in started:
        await Deferred.fromFuture(asyncio.ensure_future(stopCluster(running)))
