"""
Outgoing s2s streams: this server as Originating Server (it delivers our
users' stanzas to a remote domain) and as Receiving Server checking a
dialback key with a remote Authoritative Server.

Both run Twisted's initializer chain, the way Wokkel's
``XMPPServerConnectAuthenticator`` does, with STARTTLS first (required
unless ``require_encryption = false``), then authentication:

- SASL EXTERNAL when the peer offers it (it has accepted our certificate),
- else XEP-0220 dialback, Wokkel's ``OriginatingDialbackInitializer``.

Before either, the peer's own certificate is judged: a stream whose
Receiving Server cannot prove it is the domain we meant to reach is given
up when ``require_certificate`` is on, since our users' stanzas would
otherwise go to whoever answered the address.

Where to connect is RFC 6120 §3.2: a static route from the config, else
the ``_xmpp-server._tcp`` SRV records, else the domain itself on 5269
(Wokkel's ``XMPPServerConnector``).
"""

import base64

from twisted.internet import defer, protocol
from twisted.words.protocols.jabber import xmlstream
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish.xmlstream import XmlStreamFactoryMixin
from twisted.words.xish import domish
from wokkel.server import (NS_DIALBACK, OriginatingDialbackInitializer,
                           ReceivingDialbackInitializer, XMPPServerConnector)

from xmppd.c2s.xmlstream import HardenedXmlStream
from xmppd.s2s.incoming import CERTIFICATE, DIALBACK, NS_SASL, NS_SERVER
from xmppd.tlstransport import startTLS

NS_DIALBACK_FEATURE = "urn:xmpp:features:dialback"


class S2SFailure(Exception):
    """Negotiation with the remote server failed; the message says why."""


class PeerCertificateCheck:
    """Judges the Receiving Server's certificate before we authenticate to it."""

    def __init__(self, xs, service, remote):
        self.xmlstream = xs
        self.service = service
        self.remote = remote

    def initialize(self):
        xs = self.xmlstream
        encrypted = getattr(xs.authenticator, "encrypted", False)
        problem = (self.service.tls.verifiedDomain(xs.transport, self.remote)
                   if encrypted else "no TLS")
        xs.authenticator.peerCertificateProblem = problem
        if problem is not None and self.service.options.require_certificate:
            raise S2SFailure("%s: %s" % (self.remote, problem))


class ExternalOrDialbackInitializer:
    """
    Authenticate as ``local``: SASL EXTERNAL if offered, else dialback.

    EXTERNAL is offered only when the peer accepted our certificate for
    ``local`` (RFC 6120 §6.4.1), so offering it means it will succeed; a
    failure is still possible and then dialback is the fallback when the
    peer offers it too.
    """

    def __init__(self, xs, service, local, remote):
        self.xmlstream = xs
        self.service = service
        self.local = local
        self.remote = remote

    def initialize(self):
        xs = self.xmlstream
        mechanisms = xs.features.get((NS_SASL, "mechanisms"))
        offered = [str(m).strip() for m in mechanisms.elements()] if mechanisms else []
        if "EXTERNAL" in offered:
            return self.external()
        return self.dialback()

    def dialbackOffered(self):
        xs = self.xmlstream
        return ((NS_DIALBACK_FEATURE, "dialback") in xs.features
                or getattr(xs.authenticator, "peerOffersDialback", False))

    def external(self):
        xs = self.xmlstream
        d = defer.Deferred()
        auth = domish.Element((NS_SASL, "auth"))
        auth["mechanism"] = "EXTERNAL"
        auth.addContent(base64.b64encode(self.local.encode("utf-8")).decode("ascii"))

        def onSuccess(element):
            xs.removeObserver("/failure", onFailure)
            xs.authenticator.method = CERTIFICATE
            xs.reset()
            xs.sendHeader()
            d.callback(xmlstream.Reset)

        def onFailure(element):
            xs.removeObserver("/success", onSuccess)
            if self.dialbackOffered():
                d.callback(self.dialback())
            else:
                d.errback(S2SFailure("%s refused our certificate for %s"
                                     % (self.remote, self.local)))

        xs.addOnetimeObserver("/success", onSuccess)
        xs.addOnetimeObserver("/failure", onFailure)
        xs.send(auth)
        return d

    def dialback(self):
        xs = self.xmlstream
        if not self.dialbackOffered():
            raise S2SFailure("%s offers neither SASL EXTERNAL nor dialback" % self.remote)
        xs.authenticator.method = DIALBACK
        init = OriginatingDialbackInitializer(xs, self.local, self.remote,
                                              self.service.secret)
        d = init.initialize()

        def failed(reason):
            raise S2SFailure("%s refused our dialback key for %s" % (self.remote, self.local))

        d.addErrback(failed)
        return d


class S2SConnectAuthenticator(xmlstream.ConnectAuthenticator):
    """Opens a stream from ``local`` to ``remote`` and runs the initializers."""

    namespace = NS_SERVER

    def __init__(self, service, local, remote, verify=None):
        xmlstream.ConnectAuthenticator.__init__(self, remote)
        self.service = service
        self.local = local
        self.remote = remote
        # (streamID, key) when this connection only verifies a dialback key.
        self.verify = verify
        self.encrypted = False
        self.method = None
        self.peerCertificateProblem = None
        self.peerOffersDialback = False

    def connectionMade(self):
        self.xmlstream.thisEntity = JID(self.local)
        self.xmlstream.prefixes = {xmlstream.NS_STREAMS: "stream", NS_DIALBACK: "db"}
        xmlstream.ConnectAuthenticator.connectionMade(self)

    def streamStarted(self, rootElement):
        # Old servers announce dialback only by declaring its namespace.
        self.peerOffersDialback = NS_DIALBACK in rootElement.localPrefixes.values()
        xmlstream.ConnectAuthenticator.streamStarted(self, rootElement)
        # The stream stays addressed to the domain we meant, whatever the
        # peer's header claims.
        self.xmlstream.otherEntity = JID(self.remote)

    def associateWithStream(self, xs):
        xmlstream.ConnectAuthenticator.associateWithStream(self, xs)
        options = self.service.options
        tls = _TLSInitializer(xs, required=options.require_encryption,
                              configurationForTLS=self.service.tls.clientCreator(
                                  self.local, self.remote))
        if self.verify is not None:
            streamID, key = self.verify
            xs.initializers = [tls, ReceivingDialbackInitializer(
                xs, self.local, self.remote, streamID, key)]
        else:
            xs.initializers = [tls, PeerCertificateCheck(xs, self.service, self.remote),
                               ExternalOrDialbackInitializer(xs, self.service, self.local,
                                                             self.remote)]


class _TLSInitializer(xmlstream.TLSInitiatingInitializer):
    """
    Twisted's STARTTLS initializer on xmppd's TLS layer
    (``xmppd.tlstransport``), telling the authenticator TLS is on.
    """

    def onProceed(self, obj):
        self.xmlstream.authenticator.encrypted = True
        # Twisted's onProceed, with startTLS the only change.
        self.xmlstream.removeObserver("/failure", self.onFailure)
        startTLS(self.xmlstream.transport, self._configurationForTLS)
        self.xmlstream.reset()
        self.xmlstream.sendHeader()
        self._deferred.callback(xmlstream.Reset)


class S2SOutboundStream(HardenedXmlStream):
    """What a remote server sends on our outgoing stream is bounded too."""

    def connectionMade(self):
        self.maxStanzaSize = self.factory.service.options.stanza_size_limit
        HardenedXmlStream.connectionMade(self)


class S2SClientFactory(XmlStreamFactoryMixin, protocol.ClientFactory):
    """One outgoing connection attempt; ``onFailed(reason)`` if it never connects."""

    protocol = S2SOutboundStream

    def __init__(self, service, authenticator, onFailed):
        XmlStreamFactoryMixin.__init__(self, authenticator)
        self.service = service
        self.onFailed = onFailed
        self.connector = None

    def clientConnectionFailed(self, connector, reason):
        self.onFailed(reason)


def connect(service, remote, factory):
    """Start the TCP connection to ``remote`` (RFC 6120 §3.2) for ``factory``."""
    route = service.routes.get(remote)
    if route is not None:
        host, port = route
        return service.reactor.connectTCP(host, port, factory,
                                          timeout=service.options.connect_timeout)
    connector = XMPPServerConnector(service.reactor, remote.encode("idna").decode("ascii"),
                                    factory)
    connector.connect()
    return connector
