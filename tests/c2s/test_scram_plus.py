"""
SCRAM-SHA-256-PLUS and SCRAM-SHA-1-PLUS (RFC 5802 §6) with the channel
bindings ``tls-exporter`` (RFC 9266, TLS 1.3) and ``tls-server-end-point``
(RFC 5929), advertised as XEP-0440 says, through real TCP and TLS.

The client computes the binding from its own side of the TLS connection,
with pyOpenSSL (Python's ssl module has no exporter): a proof that only
passes when both ends saw the same connection.
"""

import base64
import hashlib
import re
import select
import socket

import pytest
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL
from twisted.internet import threads

from tests.aio import asyncioTest, wait
from tests.rawclient import ScramClient

HEADER = (b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
          b"xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>")
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"


class BlockingClient:
    """A client on a plain socket, then pyOpenSSL, reading by pattern."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.io = self.sock
        self.buffer = b""

    def send(self, data):
        self.tls(self.io.sendall, data if isinstance(data, bytes) else data.encode())

    def tls(self, call, *args):
        """Call, waiting for the socket (10 s at most) while pyOpenSSL wants to read."""
        while True:
            try:
                return call(*args)
            except SSL.WantReadError:
                if not select.select([self.sock], [], [], 10)[0]:
                    raise AssertionError("the server went silent")

    def until(self, pattern):
        while True:
            match = re.search(pattern, self.buffer, re.S)
            if match:
                self.buffer = self.buffer[match.end():]
                return match
            try:
                chunk = self.tls(self.io.recv, 65536)
            except SSL.ZeroReturnError:
                chunk = b""
            if not chunk:
                raise AssertionError("closed before %r; had %r" % (pattern, self.buffer))
            self.buffer += chunk

    def starttls(self, maxVersion):
        self.send(HEADER)
        self.until(rb"</stream:features>")
        self.send(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        self.until(rb"<proceed[^>]*/>")
        context = SSL.Context(SSL.TLS_CLIENT_METHOD)
        context.set_max_proto_version(maxVersion)
        self.io = SSL.Connection(context, self.sock)
        self.io.set_connect_state()
        self.io.set_tlsext_host_name(b"localhost")
        self.tls(self.io.do_handshake)
        self.send(HEADER)
        return self.until(rb"<stream:features.*?</stream:features>").group(0).decode()

    def binding(self, kind):
        if kind == "tls-exporter":
            return self.io.export_keying_material(b"EXPORTER-Channel-Binding", 32)
        der = self.io.get_peer_certificate().to_cryptography().public_bytes(
            serialization.Encoding.DER)
        return hashlib.sha256(der).digest()  # the test certificate is signed with SHA-256

    def authenticate(self, mechanism, scram):
        self.send("<auth xmlns='%s' mechanism='%s'>%s</auth>"
                  % (NS_SASL, mechanism, base64.b64encode(scram.first()).decode()))
        answer = self.until(rb"<(challenge|failure)[^>]*>(.*?)</\1>")
        if answer.group(1) == b"failure":
            return "failure", answer.group(2).decode()
        final = scram.final(base64.b64decode(answer.group(2)))
        self.send("<response xmlns='%s'>%s</response>" % (NS_SASL, base64.b64encode(final).decode()))
        answer = self.until(rb"<(success|failure)[^>]*>(.*?)</\1>")
        if answer.group(1) == b"success":
            assert scram.verifyServer(base64.b64decode(answer.group(2)))
        return answer.group(1).decode(), answer.group(2).decode()


def plusLogin(port, mechanism, kind, maxVersion=SSL.TLS1_3_VERSION, claimed=None,
              gs2header=None, data=None):
    client = BlockingClient(port)
    try:
        features = client.starttls(maxVersion)
        hashName = "sha256" if "256" in mechanism else "sha1"
        binding = client.binding(kind) if data is None else data
        scram = ScramClient(hashName, "alice", "secret-alice",
                            gs2header=gs2header or "p=%s,," % (claimed or kind),
                            bindingData=binding)
        return features, client.authenticate(mechanism, scram)
    finally:
        client.sock.close()


def advertised(features):
    mechanisms = re.findall(r"<mechanism>([^<]+)</mechanism>", features)
    bindings = re.findall(r"<channel-binding type=['\"]([^'\"]+)['\"]", features)
    return mechanisms, bindings


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"])
@pytest.mark.parametrize("kind", ["tls-exporter", "tls-server-end-point"])
@asyncioTest
async def test_scram_plus_logs_in_bound_to_the_tls_connection_on_tls_1_3(xmpp, mechanism, kind):
    features, (outcome, _) = await wait(threads.deferToThread(
        plusLogin, xmpp.port, mechanism, kind))
    mechanisms, bindings = advertised(features)
    assert mechanisms[:2] == ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"]
    assert "urn:xmpp:sasl-cb:0" in features
    assert bindings == ["tls-exporter", "tls-server-end-point"]
    assert outcome == "success"


@asyncioTest
async def test_tls_1_2_offers_only_tls_server_end_point(xmpp):
    features, (outcome, _) = await wait(threads.deferToThread(
        plusLogin, xmpp.port, "SCRAM-SHA-256-PLUS", "tls-server-end-point",
        SSL.TLS1_2_VERSION))
    assert advertised(features)[1] == ["tls-server-end-point"]
    assert outcome == "success"
    _, (outcome, text) = await wait(threads.deferToThread(
        plusLogin, xmpp.port, "SCRAM-SHA-256-PLUS", "tls-server-end-point",
        SSL.TLS1_2_VERSION, claimed="tls-exporter"))
    assert outcome == "failure" and "malformed-request" in text


@asyncioTest
async def test_binding_data_of_another_connection_is_not_authorized(xmpp):
    _, (outcome, text) = await wait(threads.deferToThread(
        plusLogin, xmpp.port, "SCRAM-SHA-256-PLUS", "tls-exporter", data=b"\0" * 32))
    assert outcome == "failure" and "malformed-request" in text


@asyncioTest
async def test_client_that_could_bind_but_saw_no_plus_is_refused_as_a_downgrade(xmpp):
    _, (outcome, text) = await wait(threads.deferToThread(
        plusLogin, xmpp.port, "SCRAM-SHA-256", "tls-exporter", gs2header="y,,", data=b""))
    assert outcome == "failure" and "not-authorized" in text
    # A client that does not bind ("n") logs in with plain SCRAM as before.
    _, (outcome, _) = await wait(threads.deferToThread(
        plusLogin, xmpp.port, "SCRAM-SHA-256", "tls-exporter", gs2header="n,,", data=b""))
    assert outcome == "success"
