"""
A server without sockets for handler tests: its hosts run on their Wokkel
in-memory pipes (``wokkel.generic.XmlPipe``, as every Host does), each
client is a bound session whose stream is the sink of a pipe of its own,
and time is a ``task.Clock`` (``host.clock``).

A test binds clients, sends stanzas as a client stream would hand them to
the session, and reads what the client got, without a TCP connection, TLS
or SASL. The stores are the memory ones (``Database("memory")``).
"""

from twisted.internet import defer, task
from twisted.words.protocols.jabber.jid import JID
from wokkel.generic import XmlPipe, parseXml

from xmppd.config import parseConfig
from xmppd.storage import Database
from xmppd.tap import availableModules, buildServer, moduleSchemas, storesFor

DOMAIN = "localhost"


class Client:
    """One bound resource; ``received`` holds the stanzas the server sent it."""

    def __init__(self, server, jid):
        self.server = server
        self.pipe = XmlPipe()
        self.received = []
        self._waiters = []
        self.pipe.source.addObserver("/*", self._got)
        self.session = server.sessions.bind(JID(jid), self.pipe.sink)
        server.resourceBound(self.session)

    @property
    def jid(self):
        return self.session.jid

    def send(self, xml):
        """Hand a stanza to the server as the client's stream would."""
        self.session.receivedFromClient(parseXml(xml.encode("utf-8")))

    def take(self):
        """What the client got since the last take."""
        received, self.received[:] = list(self.received), []
        return received

    def expect(self, count=1, timeout=5):
        """Fire with the next ``count`` stanzas the client gets (taken)."""
        from twisted.internet import reactor
        d = defer.Deferred()
        self._waiters.append((count, d))
        self._serve()
        return d.addTimeout(timeout, reactor)

    def _got(self, stanza):
        if isinstance(stanza, str):
            # What a session writes as text (its IQ results, stored
            # messages) is parsed as the client would read it.
            wrapped = parseXml(("<stream xmlns='jabber:client'>%s</stream>" % stanza)
                               .encode("utf-8"))
            self.received.extend(wrapped.elements())
        else:
            self.received.append(stanza)
        self._serve()

    def _serve(self):
        while self._waiters and len(self.received) >= self._waiters[0][0]:
            count, d = self._waiters.pop(0)
            got, self.received[:] = self.received[:count], self.received[count:]
            d.callback(got)

    def leave(self):
        self.server.sessions.unbind(self.session)


class PipeServer:
    def __init__(self, dataDir, modules=None):
        self.clock = task.Clock()
        installed = availableModules()
        config = parseConfig({"server": {"data_dir": str(dataDir)},
                              "modules": modules or {}}, moduleSchemas(installed))
        # The memory stores: what the handlers do, without a database's latency.
        self.database = Database("memory")
        self.server = buildServer(config, installed, storesFor(self.database, config, installed),
                                  self.clock)
        self.host = self.server.hosts[DOMAIN]
        self.storage = self.server.storage

    async def start(self):
        await self.database.start()
        for host in self.server.hosts.values():
            host.startService()

    async def stop(self):
        for host in self.server.hosts.values():
            host.stopService()
        await self.database.stop()

    def connect(self, jid):
        return Client(self.server, jid)
