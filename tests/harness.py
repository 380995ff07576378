"""
A real xmppd in the test process: real TCP on 127.0.0.1, real TLS, real
storage (the ``make_database`` fixture's SQLite or MariaDB, or the memory
stores on ``make_database("memory")``). Tests talk to
it with ``tests.rawclient.RawClient`` or slixmpp.
"""

from xmppd.config import parseConfig
from xmppd.c2s.stream import ClientStreamFactory
from xmppd.handshakes import HandshakeWorkers
from xmppd.tap import DirectTLSFactory, availableModules, buildServer, moduleSchemas, storesFor


class RunningServer:
    """``port`` takes STARTTLS streams, ``directTLSPort`` XEP-0368 direct TLS."""

    def __init__(self, server, port, listener, directTLSListener):
        self.server = server
        self.port = port
        self.listener = listener
        self.directTLSListener = directTLSListener
        self.directTLSPort = directTLSListener.getHost().port
        self.storage = server.storage
        self.handshakeWorkers = None

    def host(self, domain="localhost"):
        return self.server.hosts[domain]

    def offlineQueue(self, domain="localhost"):
        """The IOfflineQueue the offline service stores in (mam's, or its own)."""
        from xmppd.api import IOfflineService
        return self.host(domain).service(IOfflineService).store

    def available(self, bareJID):
        """
        A Deferred that fires once ``bareJID`` has an available resource: a
        test waits on the server's event, not a sleep, before it writes to a
        client program it cannot otherwise see log in.
        """
        from twisted.internet import defer
        if self.server.sessions.availableResources(bareJID):
            return defer.succeed(None)
        host = self.host(bareJID.split("@", 1)[-1].split("/")[0])
        d = defer.Deferred()

        def onAvailable(session):
            if session.jid.userhost() == bareJID and not d.called:
                host.events.unhook("resource-available", onAvailable)
                d.callback(None)
        host.events.hook("resource-available", onAvailable)
        return d

    def storedOffline(self, recipient, count):
        """
        A Deferred that fires once ``count`` messages are stored for
        ``recipient``: the server's ``offline/stored`` event, not a sleep,
        tells when a client program's messages have been taken.
        """
        from twisted.internet import defer
        host = self.host(recipient.split("@", 1)[-1])
        d = defer.Deferred()

        def check(*_):
            if d.called:
                return
            counted = self.offlineQueue(recipient.split("@", 1)[-1]).count(recipient)
            counted.addCallback(lambda n: n >= count and not d.called and (
                host.events.unhook("offline/stored", check), d.callback(n)))
        host.events.hook("offline/stored", check)
        check()
        return d

    def accountWorkDone(self, bareJID):
        """
        A Deferred that fires once the work queued so far for ``bareJID``
        is done: first its presence and roster queue (where a presence,
        a roster set, a subscription answer wait on the database), then its
        message lane (where the offline delivery a presence triggered runs).
        The server answers a ping at once, so a ping alone does not prove
        that this work has sent everything it will send.
        """
        # One roster manager for the whole server, whichever host asks for
        # it; the account need not be local (a stanza to a remote one waits
        # on none).
        rosters = next(iter(self.server.hosts.values())).rosters
        d = rosters.lanes.run(bareJID, lambda: None)
        d.addCallback(lambda _: self.server.pipeline.run(bareJID, lambda: None))
        return d

    def addUser(self, name, password="secret", domain="localhost"):
        return self.server.accounts.create("%s@%s" % (name, domain), password)

    async def stop(self):
        await self.listener.stopListening()
        await self.directTLSListener.stopListening()
        for xs in list(self.server.c2sFactory.streams):
            xs.transport.abortConnection()
        for host in self.server.hosts.values():
            host.stopService()
        if self.handshakeWorkers is not None:
            self.handshakeWorkers.stopService()


async def startServer(database, tmp_path, config=None):
    """
    Start hosts and c2s listeners (STARTTLS, direct TLS) on ephemeral
    127.0.0.1 ports, on ``database`` with the stores and tables of the
    modules ``config`` enables (a Twisted coroutine: asyncio code awaits
    it through ``tests.aio.wait``).
    """
    from twisted.internet import reactor
    data = {"server": {"data_dir": str(tmp_path / "data")},
            "c2s": {"interface": "127.0.0.1"}}
    for table, values in (config or {}).items():
        data.setdefault(table, {}).update(values)
    modules = availableModules()
    serverConfig = parseConfig(data, moduleSchemas(modules))
    storage = storesFor(database, serverConfig, modules)
    await storage.start()
    server = buildServer(serverConfig, modules, storage)
    for host in server.hosts.values():
        host.startService()
    # As makeService does: every TLS test's ClientHello step runs on a
    # worker thread, unless the test's config says 0.
    workers = None
    if serverConfig.tls.handshake_threads:
        workers = HandshakeWorkers(serverConfig.tls.handshake_threads)
        workers.startService()
    factory = ClientStreamFactory(server)
    server.c2sFactory = factory
    listener = reactor.listenTCP(0, factory, interface="127.0.0.1")
    directTLS = reactor.listenSSL(0, DirectTLSFactory(factory), server.tlsContext,
                                  interface="127.0.0.1")
    running = RunningServer(server, listener.getHost().port, listener, directTLS)
    running.handshakeWorkers = workers
    return running
