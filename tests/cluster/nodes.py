"""
Several xmppd nodes, each in its own process (``twistd -n xmppd``, from
tests/reliability/procserver.py), on one MariaDB database and one Redis.

``Cluster.nodes[i]`` is a ``NodeTarget``: what tests/reliability's
scenarios call a target (``port``, ``domain``, ``account``,
``storedCount``, ``storedBodies``, ``batch``) for the node ``i``, all of
them reading the one shared database; ``process`` kills and restarts it.
"""

import asyncio
import xml.etree.ElementTree as ET

from tests.aio import wait
from tests.reliability.procserver import XmppdProcess

ACCOUNTS = ("alice", "bob", "carol", "dave", "erin")
DOMAIN = "localhost"


class NodeTarget:
    name = "xmppd-cluster"
    domain = DOMAIN

    def __init__(self, cluster, index, process):
        self.cluster = cluster
        self.index = index
        self.process = process
        options = process.tables.get("modules.offline", {})
        self.batch = options.get("delivery_batch", 100)

    @property
    def nodeName(self):
        return self.process.tables["cluster"]["node"]

    @property
    def port(self):
        return self.process.port

    async def account(self, name):
        return name, "secret-" + name

    def storedCount(self, user):
        return self.cluster.storedCount(user)

    def storedBodies(self, user):
        return self.cluster.storedBodies(user)

    async def kill(self):
        await self.process.kill()

    async def restart(self):
        await self.process.start()


class Cluster:
    def __init__(self, redis, database):
        from xmppd.offline.store import OfflineStore
        self.redis = redis
        self.database = database
        self.offline = OfflineStore(database)
        self.nodes = []

    def __getitem__(self, index):
        return self.nodes[index]

    async def storedCount(self, user):
        return await wait(self.offline.count("%s@%s" % (user, DOMAIN)))

    async def storedBodies(self, user):
        rows = await wait(self.offline.listMessages("%s@%s" % (user, DOMAIN)))
        return [ET.fromstring(row[4]).findtext("{jabber:client}body") for row in rows]

    def logs(self):
        return "\n".join("--- node %d\n%s" % (n.index, n.process.logTail(3000))
                         for n in self.nodes)


async def startCluster(redis, databaseOptions, directory, count, config=None, accounts=None,
                       lease="2s", each=None):
    """``config``: tables for every node; ``each(index)``: more tables for node ``index``."""
    from xmppd.accounts import deriveKeys
    from xmppd.storage import Database, UserStore
    options = databaseOptions("mysql")
    database = Database("mysql", **options)
    await wait(database.start())
    users = UserStore(database)
    for name in accounts or ACCOUNTS:
        # The auth layer derives the SCRAM keys; the store keeps them.
        await wait(users.create("%s@%s" % (name, DOMAIN), deriveKeys("secret-" + name)))
    running = Cluster(redis, database)
    for index in range(count):
        tables = {"cluster": {"redis": redis.url, "node": "node%d" % (index + 1),
                              "lease": lease}}
        for extra in (config or {}), (each(index) if each else {}):
            for name, values in extra.items():
                tables[name] = dict(tables.get(name, {}), **values)
        process = XmppdProcess(directory / ("node%d" % (index + 1)), "mysql", options, tables)
        running.nodes.append(NodeTarget(running, index, process))
    await asyncio.gather(*(node.process.start() for node in running.nodes))
    return running


async def stopCluster(running):
    await asyncio.gather(*(node.process.stop() for node in running.nodes),
                         return_exceptions=True)
    await wait(running.database.stop())
