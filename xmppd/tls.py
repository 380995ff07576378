"""
The server's TLS certificate and context factory.

A fresh install must accept TLS logins without the operator making a
certificate first (SPEC: `require_encryption` is on by default), so when
none is configured a self-signed one is generated once under the data
directory and reused on later starts. It is made again only when it no
longer fits: a host was added, it is about to expire, or the files were
damaged, because a certificate that changes on every start would make
clients that pinned it complain every time.
"""

import datetime
import ipaddress
import os
import weakref

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from OpenSSL import SSL, crypto
from twisted.internet import ssl
from twisted.internet.interfaces import IOpenSSLServerConnectionCreator
from twisted.logger import Logger
from zope.interface import implementer

from xmppd.config import ConfigError, formatValue

log = Logger()

GENERATED_CERTIFICATE = "self-signed-cert.pem"
GENERATED_PRIVATE_KEY = "self-signed-key.pem"
VALIDITY = datetime.timedelta(days=365)
# Regenerate this long before expiry, so a server restarted on the last day
# does not serve a certificate that dies the next morning.
RENEW_BEFORE = datetime.timedelta(days=7)
# The ALPN protocol ids of XEP-0368: a c2s listener selects "xmpp-client"
# when a client offers it, an s2s listener "xmpp-server".
ALPN_C2S = (b"xmpp-client",)
ALPN_S2S = (b"xmpp-server",)


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _subjectAltName(hostname):
    try:
        return x509.IPAddress(ipaddress.ip_address(hostname))
    except ValueError:
        return x509.DNSName(hostname.encode("idna").decode("ascii"))


def certificateNames(certificate):
    """The DNS names and IP addresses (as strings) a certificate is valid for."""
    try:
        names = certificate.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value
    except x509.ExtensionNotFound:
        return set()
    return set(names.get_values_for_type(x509.DNSName)) | {
        str(address) for address in names.get_values_for_type(x509.IPAddress)
    }


def _wanted(hostnames):
    return {str(_subjectAltName(host).value) for host in hostnames}


def _samePublicKey(certificate, privateKey):
    encoding = serialization.Encoding.PEM
    info = serialization.PublicFormat.SubjectPublicKeyInfo
    return certificate.public_key().public_bytes(encoding, info) == (
        privateKey.public_key().public_bytes(encoding, info)
    )


def _reusable(certPath, keyPath, hostnames, now):
    try:
        with open(certPath, "rb") as f:
            certificate = x509.load_pem_x509_certificate(f.read())
        with open(keyPath, "rb") as f:
            privateKey = serialization.load_pem_private_key(f.read(), None)
    except (OSError, ValueError, TypeError):
        return False
    return (
        _samePublicKey(certificate, privateKey)
        and certificate.not_valid_after_utc - RENEW_BEFORE > now
        and _wanted(hostnames) <= certificateNames(certificate)
    )


def _writeFile(path, data, mode):
    # Write beside the target and rename, so that a crash never leaves a
    # half-written key that the next start would try to use; the mode is
    # set before any byte of a private key reaches the disk.
    temporary = f"{path}.{os.getpid()}.tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "wb") as f:
            f.write(data)
    except BaseException:
        os.unlink(temporary)
        raise
    os.replace(temporary, path)


def generateSelfSigned(certPath, keyPath, hostnames, now=None):
    """Write a fresh EC P-256 key (mode 0600) and a self-signed certificate."""
    now = now or _now()
    privateKey = ec.generate_private_key(ec.SECP256R1())
    commonName = hostnames[0] if len(hostnames[0]) <= 64 else "xmppd"
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, commonName)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(privateKey.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(
            x509.SubjectAlternativeName([_subjectAltName(h) for h in hostnames]),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(privateKey, hashes.SHA256())
    )
    _writeFile(
        keyPath,
        privateKey.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        0o600,
    )
    _writeFile(certPath, certificate.public_bytes(serialization.Encoding.PEM), 0o644)


def ensureCertificate(certPath, keyPath, dataDir, hostnames):
    """
    The (certificate, private key) paths the server should use.

    Configured paths are only checked to exist (their content is checked
    by serverContextFactory). Without them, the generated pair under
    ``dataDir`` is reused while it still fits ``hostnames``, else made anew.
    """
    if certPath:
        for key, path in (("tls.certificate", certPath), ("tls.private_key", keyPath)):
            if path and not os.path.isfile(path):
                raise ConfigError(f"{key} = {formatValue(path)}: no such file", key)
        return certPath, keyPath or certPath
    hostnames = list(hostnames)
    if not hostnames:
        raise ConfigError("server.hosts = []: expected at least one host name", "server.hosts")
    os.makedirs(dataDir, exist_ok=True)
    certPath = os.path.join(dataDir, GENERATED_CERTIFICATE)
    keyPath = os.path.join(dataDir, GENERATED_PRIVATE_KEY)
    if not _reusable(certPath, keyPath, hostnames, _now()):
        generateSelfSigned(certPath, keyPath, hostnames)
        log.info(
            "Generated a self-signed certificate for {hosts} in {path}; "
            "set [tls] certificate and private_key to use a real one",
            hosts=", ".join(hostnames),
            path=certPath,
        )
    return certPath, keyPath


def _read(path, key):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ConfigError(
            f"{key} = {formatValue(path)}: cannot read: {e.strerror or e}", key
        ) from None


def serverContextFactory(certPath, keyPath=None, alpn=ALPN_C2S):
    """
    A server-side TLS context factory (TLS 1.2 or later) for
    ``transport.startTLS``, ``listenSSL`` and TLS endpoints, selecting the
    first of ``alpn`` that a client offers (see ServerTLSContext).

    The certificate file may hold the whole chain (leaf first), and the key
    may sit in the same file. Every problem is a ConfigError naming the key.
    """
    keyPath = keyPath or certPath
    try:
        chain = x509.load_pem_x509_certificates(_read(certPath, "tls.certificate"))
    except ValueError:
        raise ConfigError(
            f"tls.certificate = {formatValue(certPath)}: expected a PEM certificate file",
            "tls.certificate",
        ) from None
    try:
        privateKey = serialization.load_pem_private_key(
            _read(keyPath, "tls.private_key"), None
        )
    except TypeError:
        raise ConfigError(
            f"tls.private_key = {formatValue(keyPath)}: the key is encrypted;"
            " expected an unencrypted PEM private key",
            "tls.private_key",
        ) from None
    except (ValueError, crypto.Error):
        raise ConfigError(
            f"tls.private_key = {formatValue(keyPath)}: expected a PEM private key file",
            "tls.private_key",
        ) from None
    if not _samePublicKey(chain[0], privateKey):
        raise ConfigError(
            f"tls.private_key = {formatValue(keyPath)}: does not match the first"
            f" certificate in {formatValue(certPath)}",
            "tls.private_key",
        )
    try:
        options = _certificateOptions(privateKey, chain[0], chain[1:])
    except TypeError:
        # pyOpenSSL before 24.3 takes only its own wrappers, which later
        # releases deprecate; both are supported by the pinned range.
        options = _certificateOptions(
            crypto.PKey.from_cryptography_key(privateKey),
            crypto.X509.from_cryptography(chain[0]),
            [crypto.X509.from_cryptography(c) for c in chain[1:]],
        )
    return ServerTLSContext(options, alpn)


def _certificateOptions(privateKey, certificate, extraCertChain):
    # Session resumption (RFC 8446 §2.2, RFC 5246 §7.3) for clients that
    # offer it: the abbreviated handshake skips the signature and the key
    # exchange of a full one, which were most of the server's TLS work per
    # login. Resumption is stateful -- sessions in the context's own cache
    # (OpenSSL's default bound, 20,480; a TLS 1.3 ticket is only a key to
    # it, used once) -- not stateless tickets, whose encryption key would
    # live as long as the process and unlock every ticket it ever issued.
    options = ssl.CertificateOptions(
        privateKey=privateKey,
        certificate=certificate,
        extraCertChain=list(extraCertChain),
        raiseMinimumTo=ssl.TLSVersion.TLSv1_2,
        enableSessions=True,
        enableSessionTickets=False,
    )
    # Build the OpenSSL context now, so that a bad chain fails at start-up
    # rather than on the first client's STARTTLS.
    preferFastCipherSuites(options.getContext())
    return options


# TLS 1.3 suites in Mozilla's recommended order (its "intermediate" and
# "modern" server configurations): OpenSSL's default puts AES-256 with
# SHA-384 first, and under the server's preference, which Twisted sets,
# every client got it. SHA-256 runs in the CPU's SHA instructions where
# SHA-384 does not, so the transcript hashes and key derivations of a
# handshake cost less: 455-553 -> 367-466 µs of server CPU per full
# handshake, measured in process; AES-128-GCM is TLS 1.3's mandatory suite.
TLS13_CIPHER_SUITES = b"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"


def preferFastCipherSuites(context):
    """Offer TLS13_CIPHER_SUITES on an SSL.Context (a pyOpenSSL too old for it keeps its own)."""
    setSuites = getattr(context, "set_tls13_ciphersuites", None)
    if setSuites is not None:
        setSuites(TLS13_CIPHER_SUITES)


def _opensslReason(error):
    """The reasons OpenSSL gave for an SSL.Error, as one short phrase."""
    if isinstance(error, SSL.SysCallError) or (
            error.args and error.args[0] and "unexpected eof" in str(error.args[0])):
        return "the peer closed the connection during the handshake"
    entries = error.args[0] if error.args and isinstance(error.args[0], list) else []
    reasons = [entry[-1] for entry in entries if isinstance(entry, tuple) and entry[-1]]
    return "; ".join(reasons) or str(error) or error.__class__.__name__


class _ServerConnection(SSL.Connection):
    """
    A TLS connection that logs its own failed handshake, once.

    Twisted hands a handshake's SSL.Error to the stream's connectionLost and
    logs nothing, so a client that could not connect left no trace for the
    operator. Twisted drives the handshake through ``do_handshake``; when
    the peer hangs up first (as clients that reject the certificate often
    do, without an alert), the error surfaces in the last ``recv`` instead
    (xmppd.tlstransport reads without ``recv`` and reports it here).
    """

    _handshakeFinished = False
    _failureLogged = False

    def do_handshake(self):
        try:
            result = SSL.Connection.do_handshake(self)
        except SSL.WantReadError:
            raise
        except SSL.Error as e:
            self.logHandshakeFailure(e)
            raise
        self.handshakeFinished()
        return result

    def handshakeFinished(self):
        """Also called by xmppd.tlstransport for a handshake finished on a worker."""
        self._handshakeFinished = True
        # From now on a failed read is no handshake's to log: reads go
        # straight to pyOpenSSL, without this class's frame and re-raise
        # on every TLS record.
        self.recv = SSL.Connection.recv.__get__(self)

    def recv(self, *args, **kwargs):
        try:
            return SSL.Connection.recv(self, *args, **kwargs)
        except (SSL.WantReadError, SSL.ZeroReturnError):
            raise
        except SSL.Error as e:
            if not self._handshakeFinished:
                self.logHandshakeFailure(e)
            raise

    def logHandshakeFailure(self, error):
        """Log why the handshake failed, the first time only (also xmppd.tlstransport's)."""
        if not self._failureLogged:
            self._failureLogged = True
            log.info("TLS handshake with {peer} failed: {reason}",
                     peer=_peerOf(self), reason=_opensslReason(error))


def _peerOf(connection):
    try:
        peer = connection.get_app_data().getPeer()
    except Exception:
        return "an unknown peer"
    host, port = getattr(peer, "host", None), getattr(peer, "port", None)
    if host is None:
        return str(peer)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@implementer(IOpenSSLServerConnectionCreator)
class ServerTLSContext:
    """
    CertificateOptions with an explicit ALPN policy (XEP-0368).

    Since Twisted 26.4 CertificateOptions installs an ALPN select callback
    even with no protocols configured, and answers a client whose offer it
    does not share with an empty protocol, on which OpenSSL aborts the
    handshake (alert 80): every client that offers ALPN, Go's TLS for one,
    could not connect. This policy selects the first of ``alpn`` that the
    client offers and otherwise completes the handshake without ALPN
    (RFC 7301 §3.2 allows a server to ignore protocols it does not know),
    as Prosody and ejabberd do.
    """

    def __init__(self, options, alpn=ALPN_C2S):
        self.options = options
        self.alpn = tuple(alpn)
        self._context = options.getContext()
        self._context.set_alpn_select_callback(self.selectProtocol)

    def selectProtocol(self, connection, offered):
        for protocol in self.alpn:
            if protocol in offered:
                return protocol
        return SSL.NO_OVERLAPPING_PROTOCOLS

    def getContext(self):
        return self._context

    def serverConnectionForTLS(self, tlsProtocol):
        connection = _ServerConnection(self._context, None)
        stream = getattr(tlsProtocol, "wrappedProtocol", None)
        if stream is not None:
            _connections[stream] = connection
        return connection


# The TLS connection under each stream protocol, for channel binding: the
# stream is the wrapped protocol both after STARTTLS and on direct TLS.
_connections = weakref.WeakKeyDictionary()
EXPORTER_LABEL = b"EXPORTER-Channel-Binding"


class ChannelBinding:
    """
    The channel bindings (RFC 5056) of one stream's TLS connection, for
    SCRAM-*-PLUS: ``tls-exporter`` (RFC 9266) on TLS 1.3 only, where it is
    defined without extended-master-secret caveats, and
    ``tls-server-end-point`` (RFC 5929 §4) on any version.
    """

    __slots__ = ("connection", "_types")

    def __init__(self, connection):
        self.connection = connection
        self._types = None

    @property
    def types(self):
        types = self._types
        if types is None:
            version = self.connection.get_protocol_version_name()
            types = ["tls-server-end-point"]
            if version == "TLSv1.3":
                types.insert(0, "tls-exporter")
            if version.startswith("TLS"):
                # The version is settled once the handshake has chosen it.
                self._types = types
        return list(types)

    def data(self, kind):
        """The binding's bytes, or None for a type this connection lacks."""
        if kind not in self.types:
            return None
        if kind == "tls-exporter":
            return self.connection.export_keying_material(EXPORTER_LABEL, 32)
        certificate = self.connection.get_certificate().to_cryptography()
        algorithm = certificate.signature_hash_algorithm
        # RFC 5929 §4.1: MD5 and SHA-1 are replaced by SHA-256.
        if algorithm is None or algorithm.name in ("md5", "sha1"):
            algorithm = hashes.SHA256()
        return certificate.fingerprint(algorithm)


def channelBindingFor(stream):
    """The ChannelBinding of a stream's TLS, or None if it has no TLS of ours."""
    connection = _connections.get(stream)
    if connection is None:
        return None
    return ChannelBinding(connection)


def contextFactoryForConfig(config):
    """The context factory for a ServerConfig, generating a certificate if needed."""
    certPath, keyPath = ensureCertificate(
        config.tls.certificate, config.tls.private_key, config.data_dir, config.hosts
    )
    return serverContextFactory(certPath, keyPath)
