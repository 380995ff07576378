"""
xmppd's TLS layer (xmppd.tlstransport) against a real TLS client: Python's
ssl on memory BIOs, the server on a StringTransport whose bytes are the
client's wire, and a Clock whose turn ends when the test advances it.

The c2s, s2s and hostile-client suites run the same layer over real
sockets; these tests pin what it does differently from Twisted's
TLSMemoryBIOProtocol: what reaches the stream per read, what leaves per
reactor turn, and when the session tickets are sent.
"""

import socket
import ssl
import struct

import pytest
import pytest_twisted
from twisted.internet import protocol, threads
from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import IHandshakeListener
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.protocols.tls import TLSMemoryBIOProtocol
from zope.interface import implementedBy, implementer

from xmppd.tls import ensureCertificate, serverContextFactory
from xmppd.tlstransport import MAX_TURN_PLAINTEXT, LeanTLSFactory, LeanTLSProtocol

APPLICATION_DATA = 23
ALERT = 21


class Recorder(protocol.Protocol):
    def __init__(self):
        self.reads = []
        self.lost = None
        self.handshakes = 0

    def dataReceived(self, data):
        self.reads.append(data)

    def connectionLost(self, reason):
        self.lost = reason


@implementer(IHandshakeListener)
class HandshakeRecorder(Recorder):
    def handshakeCompleted(self):
        self.handshakes += 1


def records(wire):
    """The (content type, length) of each TLS record in ``wire``."""
    found = []
    while wire:
        kind, _version, length = struct.unpack("!BHH", wire[:5])
        found.append((kind, length))
        wire = wire[5 + length:]
    return found


class Pair:
    """A Python ssl client and a LeanTLSProtocol server, wired by hand."""

    def __init__(self, tmp_path, recorder=Recorder, maxVersion=None, alpn=None):
        certPath, keyPath = ensureCertificate("", "", str(tmp_path / "data"), ["localhost"])
        self.clock = Clock()
        self.stream = recorder()
        wrapped = protocol.Factory.forProtocol(lambda: self.stream)
        factory = LeanTLSFactory(serverContextFactory(certPath, keyPath), False, wrapped,
                                 clock=self.clock)
        self.server = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 5222))
        self.wire = StringTransport()
        self.server.makeConnection(self.wire)
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        if maxVersion is not None:
            context.maximum_version = maxVersion
        if alpn is not None:
            context.set_alpn_protocols(alpn)
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.client = context.wrap_bio(self.incoming, self.outgoing, server_hostname="localhost")

    def endTurn(self):
        """The reactor's turn is over: what the server sent (the client gets it too)."""
        self.clock.advance(0)
        data = self.wire.value()
        self.wire.clear()
        self.incoming.write(data)
        return data

    def toServer(self):
        self.server.dataReceived(self.outgoing.read())

    def clientHandshakes(self):
        try:
            self.client.do_handshake()
        except ssl.SSLWantReadError:
            pass
        self.toServer()

    def handshake(self):
        self.clientHandshakes()
        self.endTurn()
        self.client.do_handshake()
        self.toServer()

    def clientReads(self):
        self.endTurn()
        data = b""
        while True:
            try:
                data += self.client.read(65536)
            except ssl.SSLWantReadError:
                return data


def test_every_record_of_one_read_reaches_the_stream_in_one_call(tmp_path):
    pair = Pair(tmp_path)
    pair.handshake()
    pair.stream.reads.clear()
    stanzas = [b"<message id='%d'><body>hi</body></message>" % i for i in range(3)]
    for stanza in stanzas:
        pair.client.write(stanza)
    wire = pair.outgoing.read()
    assert [kind for kind, _ in records(wire)] == [APPLICATION_DATA] * 3
    pair.server.dataReceived(wire)
    assert pair.stream.reads == [b"".join(stanzas)]


def test_a_record_split_over_two_reads_is_delivered_once_complete(tmp_path):
    pair = Pair(tmp_path)
    pair.handshake()
    pair.stream.reads.clear()
    pair.client.write(b"<presence/>")
    wire = pair.outgoing.read()
    pair.server.dataReceived(wire[:7])
    assert pair.stream.reads == []
    pair.server.dataReceived(wire[7:])
    assert pair.stream.reads == [b"<presence/>"]


def test_the_writes_of_one_turn_leave_as_one_record_in_one_write(tmp_path):
    pair = Pair(tmp_path)
    pair.handshake()
    pair.server.write(b"<stream:features/>")
    assert pair.clientReads() == b"<stream:features/>"
    writes = []
    pair.wire.write = writes.append
    for i in range(3):
        pair.server.write(b"<message id='%d'/>" % i)
    assert writes == []
    pair.clock.advance(0)
    [wire] = writes
    assert [kind for kind, _ in records(wire)] == [APPLICATION_DATA]
    pair.incoming.write(wire)
    assert pair.client.read(65536) == b"<message id='0'/><message id='1'/><message id='2'/>"


def test_a_turn_past_the_plaintext_bound_is_sent_without_waiting_for_its_end(tmp_path):
    pair = Pair(tmp_path)
    pair.handshake()
    pair.endTurn()
    chunk = b"x" * 1000
    for _ in range(MAX_TURN_PLAINTEXT // len(chunk) + 1):
        pair.server.write(chunk)
    sent = pair.wire.value()
    assert sum(length for _, length in records(sent)) > MAX_TURN_PLAINTEXT
    assert pair.clientReads() == chunk * (MAX_TURN_PLAINTEXT // len(chunk) + 1)


def test_tls13_session_tickets_wait_for_the_servers_next_write(tmp_path):
    pair = Pair(tmp_path, HandshakeRecorder)
    pair.handshake()
    assert pair.stream.handshakes == 1
    assert pair.client.version() == "TLSv1.3"
    # The client's Finished alone: the tickets wait for the answer.
    assert pair.endTurn() == b""
    pair.client.write(b"<stream:stream>")
    pair.toServer()
    assert pair.stream.reads == [b"<stream:stream>"]
    pair.server.write(b"<stream:stream><stream:features/>")
    wire = pair.endTurn()
    assert len(records(wire)) >= 2
    assert pair.client.read(65536) == b"<stream:stream><stream:features/>"
    assert pair.client.session.has_ticket


def test_tls12_server_finished_is_sent_at_once(tmp_path):
    pair = Pair(tmp_path, maxVersion=ssl.TLSVersion.TLSv1_2)
    pair.clientHandshakes()
    pair.endTurn()
    pair.clientHandshakes()
    # The client needs the server's Finished before it may write at all.
    pair.endTurn()
    pair.client.do_handshake()
    assert pair.client.version() == "TLSv1.2"
    pair.client.write(b"<presence/>")
    pair.toServer()
    assert pair.stream.reads[-1] == b"<presence/>"


def test_writes_during_the_handshake_are_sent_once_it_completes(tmp_path):
    pair = Pair(tmp_path)
    pair.server.write(b"<early/>")
    assert pair.endTurn() == b""
    pair.handshake()
    assert pair.clientReads() == b"<early/>"


def test_what_was_written_before_lose_connection_precedes_close_notify(tmp_path):
    pair = Pair(tmp_path)
    pair.handshake()
    pair.endTurn()
    pair.server.write(b"</stream:stream>")
    pair.server.loseConnection()
    pair.incoming.write(pair.wire.value())
    assert pair.client.read(65536) == b"</stream:stream>"
    # Python's ssl answers the close_notify with b"", a reset with an error.
    assert pair.client.read(65536) == b""


def test_peer_close_notify_is_answered_and_the_stream_sees_the_connection_end(tmp_path):
    pair = Pair(tmp_path)
    pair.handshake()
    pair.endTurn()
    with pytest.raises(ssl.SSLWantReadError):
        pair.client.unwrap()
    pair.toServer()
    pair.incoming.write(pair.wire.value())
    pair.client.unwrap()
    assert pair.wire.disconnecting
    pair.server.connectionLost(protocol.connectionDone)
    assert pair.stream.lost is not None


def test_garbage_after_the_handshake_ends_the_connection_with_an_ssl_error(tmp_path):
    pair = Pair(tmp_path)
    pair.handshake()
    pair.endTurn()
    pair.server.dataReceived(b"\x17\x03\x03\x00\x20" + b"\x00" * 32)
    wire = pair.wire.value()
    assert [kind for kind, _ in records(wire)][-1] in (ALERT, APPLICATION_DATA)
    assert pair.wire.disconnecting
    pair.server.connectionLost(protocol.connectionDone)
    from OpenSSL.SSL import Error
    assert pair.stream.lost.check(Error)


def test_the_tls_layer_has_twisteds_methods_without_its_attribute_relay():
    # A __getattr__ anywhere in the class's bases sends every attribute
    # read of every connection down CPython's slow path.
    assert not any("__getattr__" in vars(base) for base in LeanTLSProtocol.__mro__)
    missing = [name for name in dir(TLSMemoryBIOProtocol)
               if not name.startswith("__") and not hasattr(LeanTLSProtocol, name)]
    assert missing == []
    declared = set(implementedBy(TLSMemoryBIOProtocol).flattened())
    assert declared <= set(implementedBy(LeanTLSProtocol).flattened())


def test_a_direct_tls_stream_tunes_and_pauses_its_tcp_connection_through_the_tls_layer(tmp_path):
    pair = Pair(tmp_path)
    pair.handshake()
    transport = pair.stream.transport
    assert transport is pair.server
    noDelay = []
    pair.wire.setTcpNoDelay = noDelay.append
    transport.setTcpNoDelay(True)
    assert noDelay == [True]
    transport.pauseProducing()
    assert pair.wire.producerState == "paused"
    transport.resumeProducing()
    assert pair.wire.producerState == "producing"


class Echo(protocol.Protocol):
    def dataReceived(self, data):
        self.transport.write(data)


def echoOverTLS(port, certPath, payload):
    """A blocking TLS client that checks the certificate and the name."""
    context = ssl.create_default_context(cafile=certPath)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(payload)
            received = b""
            while len(received) < len(payload):
                received += tls.recv(65536)
            return tls.version(), received


@pytest_twisted.inlineCallbacks
def test_reuse_port_direct_tls_listener_speaks_tls_on_the_lean_layer(tmp_path):
    from xmppd.cluster.reuseport import ReusePortServer
    certPath, keyPath = ensureCertificate("", "", str(tmp_path / "data"), ["localhost"])
    factory = protocol.Factory.forProtocol(Echo)
    listener = ReusePortServer(0, factory, "127.0.0.1", serverContextFactory(certPath, keyPath))
    listener.startService()
    try:
        assert isinstance(listener.port.factory, LeanTLSFactory)
        payload = b"<presence/>" * 10000
        version, echoed = yield threads.deferToThread(
            echoOverTLS, listener.port.getHost().port, certPath, payload)
    finally:
        yield listener.stopService()
    assert version == "TLSv1.3"
    assert echoed == payload
