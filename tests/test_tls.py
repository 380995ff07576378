"""
The server certificate: generated once, reused, and usable in a handshake.
"""

import datetime
import os
import socket
import ssl
import stat

import pytest
import pytest_twisted
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from OpenSSL import SSL
from twisted.internet import protocol, threads

from xmppd.config import ConfigError, parseConfig
from xmppd.tls import (
    certificateNames,
    contextFactoryForConfig,
    ensureCertificate,
    generateSelfSigned,
    serverContextFactory,
)


def readCertificate(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def generated(tmp_path, hosts=("localhost", "example.com")):
    return ensureCertificate("", "", str(tmp_path / "data"), list(hosts))


def test_certificate_is_generated_under_data_dir_when_none_is_configured(tmp_path):
    certPath, keyPath = generated(tmp_path)
    assert os.path.dirname(certPath) == str(tmp_path / "data")
    assert os.path.dirname(keyPath) == str(tmp_path / "data")
    certificate = readCertificate(certPath)
    assert {"localhost", "example.com"} <= certificateNames(certificate)
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert datetime.timedelta(days=360) < lifetime < datetime.timedelta(days=370)


def test_private_key_is_readable_by_the_owner_only(tmp_path):
    _, keyPath = generated(tmp_path)
    assert stat.S_IMODE(os.stat(keyPath).st_mode) == 0o600


def test_generated_certificate_is_reused_on_later_starts(tmp_path):
    certPath, keyPath = generated(tmp_path)
    before = (open(certPath, "rb").read(), open(keyPath, "rb").read())
    assert generated(tmp_path) == (certPath, keyPath)
    assert (open(certPath, "rb").read(), open(keyPath, "rb").read()) == before


def test_certificate_is_made_again_when_a_host_is_added(tmp_path):
    certPath, _ = generated(tmp_path, ["localhost"])
    before = open(certPath, "rb").read()
    generated(tmp_path, ["localhost", "chat.example.com"])
    assert open(certPath, "rb").read() != before
    assert "chat.example.com" in certificateNames(readCertificate(certPath))


def test_certificate_is_made_again_when_the_files_are_damaged(tmp_path):
    certPath, keyPath = generated(tmp_path)
    with open(keyPath, "wb") as f:
        f.write(b"garbage")
    generated(tmp_path)
    serverContextFactory(certPath, keyPath)


def test_certificate_is_made_again_close_to_expiry(tmp_path):
    certPath, keyPath = generated(tmp_path)
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=364)
    generateSelfSigned(certPath, keyPath, ["localhost", "example.com"], now=old)
    generated(tmp_path)
    assert readCertificate(certPath).not_valid_after_utc > datetime.datetime.now(
        datetime.timezone.utc
    ) + datetime.timedelta(days=300)


def test_ip_address_hosts_become_ip_subject_alt_names(tmp_path):
    certPath, _ = generated(tmp_path, ["127.0.0.1"])
    names = readCertificate(certPath).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    ).value
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


def test_configured_certificate_that_does_not_exist_names_the_key(tmp_path):
    missing = str(tmp_path / "missing.pem")
    with pytest.raises(ConfigError) as caught:
        ensureCertificate(missing, missing, str(tmp_path), ["localhost"])
    assert str(caught.value) == f'tls.certificate = "{missing}": no such file'
    assert caught.value.key == "tls.certificate"


def test_configured_paths_are_used_as_given(tmp_path):
    certPath, keyPath = generated(tmp_path)
    assert ensureCertificate(certPath, keyPath, str(tmp_path / "other"), ["x"]) == (
        certPath,
        keyPath,
    )
    assert not (tmp_path / "other").exists()


def test_certificate_and_key_may_share_one_file(tmp_path):
    certPath, keyPath = generated(tmp_path)
    combined = tmp_path / "combined.pem"
    combined.write_bytes(open(keyPath, "rb").read() + open(certPath, "rb").read())
    serverContextFactory(str(combined)).getContext()


def test_key_that_does_not_match_the_certificate_is_refused(tmp_path):
    certPath, _ = generated(tmp_path)
    otherKey = tmp_path / "other-key.pem"
    otherKey.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ConfigError) as caught:
        serverContextFactory(certPath, str(otherKey))
    assert caught.value.key == "tls.private_key"
    assert "does not match" in str(caught.value)


def test_file_that_is_not_a_certificate_is_refused(tmp_path):
    _, keyPath = generated(tmp_path)
    notPem = tmp_path / "cert.txt"
    notPem.write_text("hello")
    with pytest.raises(ConfigError) as caught:
        serverContextFactory(str(notPem), keyPath)
    assert str(caught.value) == (
        f'tls.certificate = "{notPem}": expected a PEM certificate file'
    )


class Greeter(protocol.Protocol):
    def connectionMade(self):
        self.transport.write(b"<stream/>")


def tlsClient(port, certPath):
    """A blocking client that trusts only our certificate and checks the name."""
    context = ssl.create_default_context(cafile=certPath)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            return tls.version(), tls.recv(100)


@pytest_twisted.inlineCallbacks
def test_context_factory_completes_a_verified_handshake(tmp_path):
    from twisted.internet import reactor

    config = parseConfig({"server": {"data_dir": str(tmp_path / "data")}})
    certPath, _ = ensureCertificate("", "", config.data_dir, config.hosts)
    factory = protocol.Factory.forProtocol(Greeter)
    port = reactor.listenSSL(0, factory, contextFactoryForConfig(config), interface="127.0.0.1")
    try:
        version, greeting = yield threads.deferToThread(
            tlsClient, port.getHost().port, certPath
        )
    finally:
        yield port.stopListening()
    assert version in ("TLSv1.2", "TLSv1.3")
    assert greeting == b"<stream/>"


def test_context_factory_refuses_tls_older_than_1_2(tmp_path):
    # Checked on the server's context: a TLS 1.1 client cannot prove it, as
    # the local OpenSSL usually refuses to speak TLS 1.1 itself.
    options = serverContextFactory(*generated(tmp_path)).getContext().set_options(0)
    assert options & SSL.OP_NO_SSLv3
    assert options & SSL.OP_NO_TLSv1
    assert options & SSL.OP_NO_TLSv1_1
    assert not options & SSL.OP_NO_TLSv1_2


def test_tls13_handshake_prefers_aes128_gcm_sha256(tmp_path):
    # The client's order puts AES-256 first; the server's preference decides.
    certPath, keyPath = generated(tmp_path)
    context = serverContextFactory(certPath, keyPath).getContext()
    server = SSL.Connection(context, None)
    server.set_accept_state()
    client = ssl.create_default_context()
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = client.wrap_bio(incoming, outgoing, server_hostname="localhost")
    for _ in range(3):
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            server.bio_write(outgoing.read())
            try:
                server.do_handshake()
            except SSL.WantReadError:
                pass
            incoming.write(server.bio_read(65536))
    assert tls.version() == "TLSv1.3"
    assert tls.cipher()[0] == "TLS_AES_128_GCM_SHA256"
