"""
TLS for server-to-server streams: one context pair per local domain, and
the check that a peer's certificate proves the domain it claims.

The handshake itself never fails on the peer's certificate: whether a bad
or missing certificate ends the stream or leaves dialback to decide is
policy (``require_certificate``), and the stream layer needs the verdict,
not a dead connection, to apply it. So contexts request the peer's
certificate but accept any, and ``verifiedDomain`` judges it afterwards:
the chain must lead to a trusted CA (RFC 6120 §13.7.2) and the leaf must
name the domain (RFC 6125 DNS-ID, checked by ``service_identity``).

ALPN offers ``xmpp-server`` (the protocol id RFC 7590 and XEP-0368 use),
so a TLS front end that multiplexes by ALPN sends these streams to s2s.
"""

from OpenSSL import SSL, crypto
from service_identity import CertificateError, VerificationError
from service_identity.cryptography import verify_certificate_hostname
from twisted.internet import ssl
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from zope.interface import implementer

from xmppd.config import ConfigError, formatValue
from xmppd.tls import ALPN_S2S, ServerTLSContext, preferFastCipherSuites


def _acceptAny(connection, certificate, errno, depth, ok):
    return True


def _optionsLike(base):
    """
    A fresh CertificateOptions with the key and chain of ``base`` (a
    ``xmppd.tls.ServerTLSContext`` or CertificateOptions), for s2s.
    """
    base = getattr(base, "options", base)
    options = ssl.CertificateOptions(
        privateKey=base.privateKey,
        certificate=base.certificate,
        extraCertChain=list(base.extraCertChain or ()),
        raiseMinimumTo=ssl.TLSVersion.TLSv1_2,
    )
    # Ask for the peer's certificate (servers do not by default) and keep
    # the connection whatever it is: see the module docstring.
    options.getContext().set_verify(SSL.VERIFY_PEER, _acceptAny)
    preferFastCipherSuites(options.getContext())
    return options


def _serverOptions(base):
    # xmppd.tls's ALPN policy: xmpp-server when offered, else no ALPN
    # rather than the handshake failure Twisted's own callback gives.
    return ServerTLSContext(_optionsLike(base), alpn=ALPN_S2S)


def _clientOptions(base):
    options = _optionsLike(base)
    options.getContext().set_alpn_protos(list(ALPN_S2S))
    return options


@implementer(IOpenSSLClientConnectionCreator)
class _ClientConnectionCreator:
    """Starts client-side TLS with SNI naming the domain we connect to."""

    def __init__(self, context, serverName):
        self.context = context
        self.serverName = serverName.encode("idna")

    def clientConnectionForTLS(self, tlsProtocol):
        connection = SSL.Connection(self.context, None)
        connection.set_app_data(tlsProtocol)
        connection.set_tlsext_host_name(self.serverName)
        connection.set_connect_state()
        return connection


def loadTrustStore(caFile):
    """The CAs peers' certificates must chain to: ``caFile``, or the system's."""
    store = crypto.X509Store()
    if caFile:
        try:
            store.load_locations(caFile)
        except (crypto.Error, SSL.Error, OSError):
            key = "modules.s2s.ca_file"
            raise ConfigError(f"{key} = {formatValue(caFile)}: expected a readable"
                              " PEM file of CA certificates", key) from None
    else:
        store.set_default_paths()
    return store


class S2STLS:
    """
    ``contexts`` maps each local domain to the server context of its
    certificate (from ``xmppd.tls.serverContextFactory``, which has
    already checked the files).
    """

    def __init__(self, contexts, caFile=""):
        self._server = {domain: _serverOptions(o) for domain, o in contexts.items()}
        self._client = {domain: _clientOptions(o) for domain, o in contexts.items()}
        self.trust = loadTrustStore(caFile)

    def serverOptions(self, localDomain):
        return self._server[localDomain]

    def clientCreator(self, localDomain, remoteDomain):
        return _ClientConnectionCreator(self._client[localDomain].getContext(), remoteDomain)

    def verifiedDomain(self, transport, domain):
        """
        None if the peer's certificate on ``transport`` proves ``domain``,
        else why not (one phrase, for logs and stream error texts).
        """
        try:
            connection = transport.getHandle()
            leaf = connection.get_peer_certificate()
        except (AttributeError, SSL.Error):
            return "no TLS"
        if leaf is None:
            return "no certificate"
        leafDigest = leaf.digest("sha256")
        untrusted = [c for c in (connection.get_peer_cert_chain() or [])
                     if c.digest("sha256") != leafDigest]
        try:
            crypto.X509StoreContext(self.trust, leaf, untrusted).verify_certificate()
        except crypto.X509StoreContextError as e:
            return "certificate not trusted (%s)" % (e,)
        try:
            verify_certificate_hostname(leaf.to_cryptography(), domain)
        except (CertificateError, VerificationError):
            return "certificate is not for %s" % (domain,)
        return None
