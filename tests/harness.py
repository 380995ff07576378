"""
A real xmppd in the test process: real TCP on 127.0.0.1, real TLS, real
storage (the ``make_database`` fixture's SQLite or MariaDB). Tests talk to
it with ``tests.rawclient.RawClient`` or slixmpp.
"""

from xmppd.config import parseConfig
from xmppd.c2s.stream import ClientStreamFactory
from xmppd.tap import availableModules, buildServer, moduleSchemas, storesFor


class RunningServer:
    def __init__(self, server, port, listener):
        self.server = server
        self.port = port
        self.listener = listener
        self.storage = server.storage

    def host(self, domain="localhost"):
        return self.server.hosts[domain]

    def addUser(self, name, password="secret", domain="localhost"):
        return self.storage.users.create("%s@%s" % (name, domain), password)

    async def stop(self):
        await self.listener.stopListening()
        for xs in list(self.server.c2sFactory.streams):
            xs.transport.abortConnection()
        for host in self.server.hosts.values():
            host.stopService()


async def startServer(database, tmp_path, config=None):
    """Start hosts and a c2s listener on an ephemeral 127.0.0.1 port."""
    from twisted.internet import reactor
    data = {"server": {"data_dir": str(tmp_path / "data")},
            "c2s": {"interface": "127.0.0.1"}}
    for table, values in (config or {}).items():
        data.setdefault(table, {}).update(values)
    modules = availableModules()
    serverConfig = parseConfig(data, moduleSchemas(modules))
    server = buildServer(serverConfig, modules, storesFor(database))
    for host in server.hosts.values():
        host.startService()
    factory = ClientStreamFactory(server)
    server.c2sFactory = factory
    listener = reactor.listenTCP(0, factory, interface="127.0.0.1")
    return RunningServer(server, listener.getHost().port, listener)
