"""
Two (or more) xmppd processes federating on 127.0.0.1: each a real
``twistd xmppd`` with its own config, data directory, database and
certificate from a test CA, reaching the others through static routes.
"""

import asyncio
import os
import re
import socket
import sys

from tests.rawclient import RawClient

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = dict(os.environ, PYTHONPATH=REPO)
TWISTD = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]
START_TIMEOUT = 30


def freePort():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tomlValue(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[%s]" % ", ".join(tomlValue(v) for v in value)
    if isinstance(value, dict):
        return "{ %s }" % ", ".join('"%s" = %s' % (k, tomlValue(v)) for k, v in value.items())
    return '"%s"' % str(value).replace("\\", "\\\\").replace('"', '\\"')


def toml(tables):
    lines = []
    for name, values in tables.items():
        lines.append("[%s]" % name)
        lines.extend("%s = %s" % (k, tomlValue(v)) for k, v in values.items())
        lines.append("")
    return "\n".join(lines)


class XmppdProcess:
    """One federating server: ``domain``, its c2s and s2s ports, its users."""

    def __init__(self, directory, domain, storage, certificate, caFile, s2s=None):
        self.directory = directory
        self.domain = domain
        self.storage = storage          # (backend, Database options)
        self.c2sPort = freePort()
        self.s2sPort = freePort()
        self.s2sOptions = {"interface": "127.0.0.1", "port": self.s2sPort,
                           "ca_file": str(caFile), "connect_timeout": "5s", "routes": {}}
        self.s2sOptions.update(s2s or {})
        self.certificate = certificate
        self.process = None
        self.extraTables = {}
        self.log = []
        directory.mkdir(parents=True, exist_ok=True)
        self.configPath = directory / "xmppd.toml"

    def routeTo(self, other, port=None):
        self.s2sOptions["routes"][other.domain if hasattr(other, "domain") else other] = (
            "127.0.0.1:%d" % (port or other.s2sPort))

    def writeConfig(self):
        backend, options = self.storage
        tables = {
            "server": {"hosts": [self.domain], "data_dir": str(self.directory / "data")},
            "c2s": {"interface": "127.0.0.1", "port": self.c2sPort},
            "tls": {"certificate": str(self.certificate[0]),
                    "private_key": str(self.certificate[1])},
            "storage": {"backend": backend},
            "storage.%s" % backend: {k: v for k, v in options.items() if v is not None},
            "modules.s2s": self.s2sOptions,
            "modules.roster": {},
        }
        tables.update(self.extraTables)
        self.configPath.write_text(toml(tables))

    async def addUsers(self, *names):
        """Create ``name@domain`` with password ``secret-name`` before the server starts."""
        from tests.aio import wait
        from xmppd.accounts import AccountManager
        from xmppd.storage import Database, openStores
        backend, options = self.storage
        database = Database(backend, **options)
        await wait(database.start())
        try:
            accounts = AccountManager(openStores(database))
            for name in names:
                await wait(accounts.create("%s@%s" % (name, self.domain), "secret-" + name))
        finally:
            await wait(database.stop())

    async def _untilStored(self, read, expected, timeout):
        """Read this server's database until ``read(stores)`` gives ``expected``."""
        from tests.aio import wait
        from xmppd.offline.store import OfflineStore
        from xmppd.storage import Database
        from xmppd.storage.roster import RosterStore
        backend, options = self.storage
        database = Database(backend, schema=["xmppd.offline"], **options)
        await wait(database.start())
        try:
            stores = {"roster": RosterStore(database), "offline": OfflineStore(database)}
            deadline = asyncio.get_event_loop().time() + timeout
            while True:
                value = await read(stores)
                if value == expected or asyncio.get_event_loop().time() > deadline:
                    return value
                await asyncio.sleep(0.05)
        finally:
            await wait(database.stop())

    async def storedOffline(self, owner, expected, timeout=10):
        """The number of offline messages stored for ``owner``, once it is ``expected``."""
        from tests.aio import wait
        return await self._untilStored(
            lambda stores: wait(stores["offline"].count(owner)), expected, timeout)

    async def pendingSubscriptions(self, owner, expected, timeout=10):
        """
        The contacts with a stored subscription request to ``owner``, read
        from this server's database until they are ``expected``: the store
        happens in another process, so its database is the one witness.
        """
        from tests.aio import wait
        from xmppd.storage import Database
        from xmppd.storage.roster import RosterStore
        backend, options = self.storage
        database = Database(backend, **options)
        await wait(database.start())
        try:
            store = RosterStore(database)
            deadline = asyncio.get_event_loop().time() + timeout
            while True:
                contacts = [c for c, _ in await wait(store.pendingRequests(owner))]
                if contacts == expected or asyncio.get_event_loop().time() > deadline:
                    return contacts
                await asyncio.sleep(0.05)
        finally:
            await wait(database.stop())

    async def start(self):
        self.writeConfig()
        self.process = await asyncio.create_subprocess_exec(
            *TWISTD, "--nodaemon", "--pidfile=", "--logfile=-", "xmppd",
            "--config", str(self.configPath), cwd=self.directory, env=ENV,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        waiting = {b"ClientStreamFactory starting on %d" % self.c2sPort,
                   b"s2s listening on 127.0.0.1:%d" % self.s2sPort}
        while waiting:
            line = await asyncio.wait_for(self.process.stdout.readline(), START_TIMEOUT)
            assert line, "xmppd for %s exited:\n%s" % (self.domain, b"".join(self.log).decode())
            self.log.append(line)
            waiting = {w for w in waiting if w not in line}
        self._drain = asyncio.ensure_future(self._readLog())
        return self

    async def _readLog(self):
        while True:
            line = await self.process.stdout.readline()
            if not line:
                return
            self.log.append(line)

    def logText(self):
        return b"".join(self.log).decode("utf-8", "replace")

    def logged(self, pattern):
        return re.search(pattern, self.logText()) is not None

    async def stop(self):
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await asyncio.wait_for(self.process.wait(), 30)
        if getattr(self, "_drain", None) is not None:
            await self._drain

    async def login(self, name, resource="r1"):
        """A bound resource of ``name@domain`` (STARTTLS, SCRAM), no presence yet."""
        client = await RawClient.connect(self.c2sPort)
        await client.login(name, "secret-" + name, resource, domain=self.domain)
        client.name = "%s@%s" % (name, self.domain)
        return client
