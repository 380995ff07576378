"""
The c2s listener: one hardened XML stream per client TCP connection.

Connection count, per-address count and the time a client may take to
authenticate and bind are bounded here, before any stanza reaches a host.
"""

from twisted.internet import protocol
from twisted.words.protocols.jabber import error

from xmppd.c2s.negotiation import C2SNegotiator
from xmppd.c2s.xmlstream import HardenedXmlStream


class ClientStream(HardenedXmlStream):
    """A client connection; stanzas go to its negotiator, then to its session."""

    def connectionMade(self):
        self.maxStanzaSize = self.factory.server.stanzaSizeLimit
        HardenedXmlStream.connectionMade(self)
        self.peerAddress = getattr(self.transport.getPeer(), "host", None)
        self.factory.connectionOpened(self)
        self._authTimer = self.factory.clock.callLater(
            self.factory.server.authTimeout, self._authTimedOut)

    def _authTimedOut(self):
        self._authTimer = None
        if self.authenticator.session is None:
            self.sendStreamError(error.StreamError(
                "connection-timeout", text="not authenticated in time"))

    def onElement(self, element):
        if getattr(self, "_closing", False):
            return
        self.authenticator.elementReceived(element)

    def connectionLost(self, reason):
        if self._authTimer is not None and self._authTimer.active():
            self._authTimer.cancel()
        self._authTimer = None
        HardenedXmlStream.connectionLost(self, reason)
        self.factory.connectionClosed(self)
        session = self.authenticator.session
        if session is not None:
            self.authenticator.session = None
            self.factory.server.sessions.unbind(session)


class ClientStreamFactory(protocol.ServerFactory):
    """Builds ClientStreams and keeps the connection counts they are bounded by."""

    protocol = ClientStream

    def __init__(self, server, clock=None):
        if clock is None:
            from twisted.internet import reactor as clock
        self.server = server
        self.clock = clock
        self.streams = set()
        self.perAddress = {}

    def buildProtocol(self, addr):
        negotiator = C2SNegotiator(self.server)
        xs = self.protocol(negotiator)
        xs.factory = self
        return xs

    def connectionOpened(self, xs):
        self.streams.add(xs)
        self.perAddress[xs.peerAddress] = self.perAddress.get(xs.peerAddress, 0) + 1

    def connectionClosed(self, xs):
        if xs in self.streams:
            self.streams.discard(xs)
            count = self.perAddress.get(xs.peerAddress, 1) - 1
            if count:
                self.perAddress[xs.peerAddress] = count
            else:
                self.perAddress.pop(xs.peerAddress, None)

    def overCapacity(self, xs):
        if len(self.streams) > self.server.maxConnections:
            return True
        return self.perAddress.get(xs.peerAddress, 0) > self.server.maxConnectionsPerAddress
