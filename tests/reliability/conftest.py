"""
``xmppd_process``: xmppd in its own process on a fresh database of
``backend`` (SQLite, or a MariaDB database of the session's throwaway
server), with accounts created through the storage API before it starts.

``target = await xmppd_process(config={...}, optional={...})`` returns a
target for tests/reliability's scenarios: ``port``, ``domain``,
``account(name)``, ``storedCount(user)``, ``storedBodies(user)``,
``batch``, and ``process`` (tests.reliability.procserver.XmppdProcess:
``kill``, ``start``, ``signal``). ``config`` tables must be accepted by
the server; ``optional`` tables are written only if this xmppd knows them.
"""

import asyncio
import xml.etree.ElementTree as ET

import pytest_twisted

ACCOUNTS = ("alice", "bob", "carol", "dave", "erin")
DEFAULT_BATCH = 100


class XmppdTarget:
    """One xmppd process and the test's own connection to its database."""

    name = "xmppd"
    domain = "localhost"

    def __init__(self, process, database, backend):
        from xmppd.offline.store import OfflineStore
        self.process = process
        self.database = database
        self.backend = backend
        self.offline = OfflineStore(database)
        options = process.tables.get("modules.offline", {})
        self.batch = options.get("delivery_batch", DEFAULT_BATCH)

    @property
    def port(self):
        return self.process.port

    async def kill(self):
        await self.process.kill()

    async def restart(self):
        await self.process.start()

    async def account(self, name):
        return name, "secret-" + name

    async def storedCount(self, user):
        from tests.aio import wait
        return await wait(self.offline.count("%s@%s" % (user, self.domain)))

    async def storedBodies(self, user):
        """The bodies of ``user``'s stored messages, in storage order."""
        from tests.aio import wait
        rows = await wait(self.offline.listMessages("%s@%s" % (user, self.domain)))
        return [ET.fromstring(row[4]).findtext("{jabber:client}body") for row in rows]


@pytest_twisted.async_yield_fixture
async def xmppd_process(backend, database_options, tmp_path):
    # Imported here: storage imports Twisted, whose asyncio reactor
    # pytest-twisted installs first.
    from tests.aio import wait
    from tests.reliability.procserver import XmppdProcess
    from xmppd.accounts import AccountManager
    from xmppd.storage import Database, openStores

    started = []

    async def start(config=None, optional=None, accounts=ACCOUNTS):
        options = database_options(backend)
        # With the offline tables, which the test reads beside the server.
        database = Database(backend, schema=["xmppd.offline"], **options)
        await wait(database.start())
        started.append((None, database))
        users = AccountManager(openStores(database))
        for name in accounts:
            await wait(users.create("%s@localhost" % name, "secret-" + name))
        process = XmppdProcess(tmp_path / ("xmppd-%d" % len(started)), backend, options,
                               config, optional)
        started[-1] = (process, database)
        await process.start()
        return XmppdTarget(process, database, backend)

    yield start
    from twisted.internet.defer import Deferred
    for process, database in started:
        if process is not None:
            await Deferred.fromFuture(asyncio.ensure_future(process.stop()))
        await database.stop()
