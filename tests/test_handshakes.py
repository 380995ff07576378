"""
``[tls] handshake_threads`` (xmppd.handshakes): the ClientHello's step of
a server handshake on a worker thread.

Most tests hand the step to workers that run it when the test says
(``HeldWorkers``), with the TLS layer on a StringTransport, so that what
happens while the step is away -- input arriving, a close, the connection
lost -- is deterministic. The last ones run the real threads under real
sockets; every c2s test of the suite does too (tests/harness.py starts
them as makeService does).
"""

import socket
import ssl

import pytest_twisted
from OpenSSL import SSL
from twisted.internet import protocol, threads
from twisted.internet.error import ConnectionLost

from tests.test_tlstransport import HandshakeRecorder, Pair, echoOverTLS, Echo
from xmppd import handshakes
from xmppd.handshakes import MAX_HELD_INPUT, HandshakeWorkers
from xmppd.tls import ServerTLSContext, ensureCertificate, serverContextFactory


class HeldWorkers:
    """Stands in for HandshakeWorkers: a step runs when ``finish`` is called."""

    def __init__(self, idle=1):
        self.idle = idle
        self.jobs = []

    def tryStep(self, connection, done):
        if self.idle <= 0:
            return False
        self.idle -= 1
        self.jobs.append((connection, done))
        return True

    def finish(self):
        connection, done = self.jobs.pop(0)
        self.idle += 1
        done(handshakes.step(connection))


def held(monkeypatch, idle=1):
    workers = HeldWorkers(idle)
    monkeypatch.setattr(handshakes, "_running", workers)
    return workers


def lostBeforeTheHandshake(pair, workers):
    """The TCP connection goes; once the step is back the stream sees it, never a handshake."""
    pair.server.connectionLost(protocol.connectionDone)
    workers.finish()
    return pair.stream.lost is not None and pair.stream.handshakes == 0


def clientHello(pair):
    try:
        pair.client.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return pair.outgoing.read()


def test_the_client_hello_step_runs_on_a_worker_then_the_handshake_completes(tmp_path, monkeypatch):
    workers = held(monkeypatch)
    pair = Pair(tmp_path, HandshakeRecorder)
    pair.server.dataReceived(clientHello(pair))
    assert len(workers.jobs) == 1
    # Nothing leaves while the worker has the step, even at the turn's end.
    assert pair.endTurn() == b""
    workers.finish()
    assert pair.endTurn() != b""
    pair.client.do_handshake()
    pair.toServer()
    assert pair.stream.handshakes == 1
    pair.client.write(b"<presence/>")
    pair.toServer()
    assert pair.stream.reads == [b"<presence/>"]
    pair.server.write(b"<features/>")
    assert pair.clientReads() == b"<features/>"


def test_only_the_client_hello_step_moves(tmp_path, monkeypatch):
    workers = held(monkeypatch, idle=5)
    pair = Pair(tmp_path, HandshakeRecorder)
    pair.server.dataReceived(clientHello(pair))
    workers.finish()
    pair.endTurn()
    pair.client.do_handshake()
    pair.toServer()
    assert workers.jobs == []
    assert pair.stream.handshakes == 1


def test_input_during_the_step_is_read_after_it_in_order(tmp_path, monkeypatch):
    workers = held(monkeypatch)
    pair = Pair(tmp_path, HandshakeRecorder)
    hello = clientHello(pair)
    # The ClientHello in two segments: the worker gets the first, which is
    # not enough; the second waits for it and is read on the event loop.
    pair.server.dataReceived(hello[:20])
    pair.server.dataReceived(hello[20:])
    assert pair.endTurn() == b""
    workers.finish()
    assert pair.endTurn() != b""
    pair.client.do_handshake()
    pair.toServer()
    assert pair.stream.handshakes == 1


def test_a_connection_lost_during_the_step_reaches_the_stream_after_it(tmp_path, monkeypatch):
    workers = held(monkeypatch)
    pair = Pair(tmp_path, HandshakeRecorder)
    pair.server.dataReceived(clientHello(pair))
    pair.server.connectionLost(protocol.connectionDone)
    assert pair.stream.lost is None
    workers.finish()
    assert pair.stream.lost is not None
    # As when it is lost mid-handshake on the event loop: not a clean close.
    assert pair.stream.lost.check(ConnectionLost)
    assert pair.stream.handshakes == 0


def test_a_close_during_the_step_closes_the_connection_after_it(tmp_path, monkeypatch):
    workers = held(monkeypatch)
    pair = Pair(tmp_path, HandshakeRecorder)
    pair.server.dataReceived(clientHello(pair))
    pair.server.loseConnection()
    assert not pair.wire.disconnecting
    workers.finish()
    assert pair.wire.disconnecting


def test_an_abort_during_the_step_drops_the_tcp_connection_at_once(tmp_path, monkeypatch):
    workers = held(monkeypatch)
    pair = Pair(tmp_path, HandshakeRecorder)
    pair.server.dataReceived(clientHello(pair))
    pair.server.abortConnection()
    assert pair.wire.disconnecting
    assert lostBeforeTheHandshake(pair, workers)


def test_a_client_sending_past_the_bound_during_the_step_is_aborted(tmp_path, monkeypatch):
    workers = held(monkeypatch)
    pair = Pair(tmp_path, HandshakeRecorder)
    pair.server.dataReceived(clientHello(pair))
    pair.server.dataReceived(b"\x17" * (MAX_HELD_INPUT // 2))
    assert not pair.wire.disconnecting
    pair.server.dataReceived(b"\x17" * (MAX_HELD_INPUT // 2 + 1))
    assert pair.wire.disconnecting
    assert lostBeforeTheHandshake(pair, workers)


def test_a_failed_step_ends_the_connection_with_the_ssl_error(tmp_path, monkeypatch):
    workers = held(monkeypatch)
    pair = Pair(tmp_path, HandshakeRecorder)
    # A handshake record whose content is no ClientHello.
    pair.server.dataReceived(b"\x16\x03\x01\x00\x08" + b"\x01\x00\x00\x04junk")
    workers.finish()
    assert pair.wire.disconnecting
    pair.server.connectionLost(protocol.connectionDone)
    from OpenSSL.SSL import Error
    assert pair.stream.lost.check(Error)


def test_without_an_idle_worker_the_step_runs_on_the_event_loop(tmp_path, monkeypatch):
    workers = held(monkeypatch, idle=0)
    pair = Pair(tmp_path, HandshakeRecorder)
    pair.server.dataReceived(clientHello(pair))
    assert workers.jobs == []
    assert pair.endTurn() != b""
    pair.client.do_handshake()
    pair.toServer()
    assert pair.stream.handshakes == 1


def test_the_client_hello_step_wants_the_clients_finished_without_an_exception(
        tmp_path, monkeypatch):
    workers = held(monkeypatch)
    pair = Pair(tmp_path, HandshakeRecorder)
    pair.server.dataReceived(clientHello(pair))
    raised = []
    original = SSL.Connection._raise_ssl_error

    def recording(connection, ssl, result):
        raised.append(result)
        return original(connection, ssl, result)
    monkeypatch.setattr(SSL.Connection, "_raise_ssl_error", recording)
    workers.finish()
    # The server's flight is written; pyOpenSSL raised nothing for it.
    assert raised == []
    assert pair.endTurn() != b""
    pair.client.do_handshake()
    pair.toServer()
    assert pair.stream.handshakes == 1


def test_a_handshake_callback_failing_in_the_step_fails_the_connection(tmp_path, monkeypatch):
    def failingSelection(self, connection, offered):
        raise ValueError("a bug in the ALPN policy")
    monkeypatch.setattr(ServerTLSContext, "selectProtocol", failingSelection)
    workers = held(monkeypatch)
    pair = Pair(tmp_path, HandshakeRecorder, alpn=["xmpp-client"])
    pair.server.dataReceived(clientHello(pair))
    connection, _ = workers.jobs[0]
    outcome = handshakes.step(connection)
    assert isinstance(outcome, SSL.Error)
    assert "a bug in the ALPN policy" in str(outcome)


def echoWithWorkers(tmp_path, threads):
    """A direct-TLS echo listener and ``threads`` started workers (both to stop)."""
    from xmppd.cluster.reuseport import ReusePortServer
    certPath, keyPath = ensureCertificate("", "", str(tmp_path / "data"), ["localhost"])
    workers = HandshakeWorkers(threads)
    workers.startService()
    listener = ReusePortServer(0, protocol.Factory.forProtocol(Echo), "127.0.0.1",
                               serverContextFactory(certPath, keyPath))
    listener.startService()
    return certPath, workers, listener


@pytest_twisted.inlineCallbacks
def test_real_workers_run_the_step_of_real_tls_connections(tmp_path):
    certPath, workers, listener = echoWithWorkers(tmp_path, 2)
    try:
        port = listener.port.getHost().port
        results = yield threads.deferToThread(
            lambda: [echoOverTLS(port, certPath, b"<presence/>" * (n + 1)) for n in range(5)])
    finally:
        yield listener.stopService()
        workers.stopService()
    assert [echoed for _version, echoed in results] == [b"<presence/>" * (n + 1)
                                                         for n in range(5)]
    assert workers.steps == 5
    assert workers.idle == 0 and handshakes.running() is None


@pytest_twisted.inlineCallbacks
def test_a_client_that_resets_during_the_step_leaves_the_workers_idle(tmp_path):
    certPath, workers, listener = echoWithWorkers(tmp_path, 1)
    port = listener.port.getHost().port
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE

    def helloThenReset():
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        client = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
        try:
            client.do_handshake()
        except ssl.SSLWantReadError:
            pass
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        raw.sendall(outgoing.read())
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        raw.close()

    try:
        for _ in range(20):
            yield threads.deferToThread(helloThenReset)
        # The server still completes handshakes afterwards, on the worker.
        steps = workers.steps
        _version, echoed = yield threads.deferToThread(echoOverTLS, port, certPath, b"<a/>")
    finally:
        yield listener.stopService()
        workers.stopService()
    assert echoed == b"<a/>"
    assert workers.steps > steps


class StepThatWaits:
    """A connection whose step holds its worker until ``release`` is set."""

    def __init__(self, release):
        self.release = release

    @property
    def _ssl(self):
        self.release.wait(10)
        raise RuntimeError("no TLS here")


@pytest_twisted.inlineCallbacks
def test_a_worker_takes_one_step_waiting_behind_the_one_it_runs():
    import threading
    from twisted.internet import defer
    workers = HandshakeWorkers(1)
    workers.startService()
    release = threading.Event()
    backs = [defer.Deferred(), defer.Deferred()]
    try:
        assert workers.tryStep(StepThatWaits(release), backs[0].callback)
        assert workers.tryStep(StepThatWaits(release), backs[1].callback)
        # Both places taken: this step would run on the event loop.
        assert not workers.tryStep(StepThatWaits(release), lambda outcome: None)
        release.set()
        outcomes = yield defer.gatherResults(backs)
        placesFree = workers.idle
    finally:
        release.set()
        workers.stopService()
    # Each step's failure came back as its outcome, and the places are free.
    assert [type(outcome).__name__ for outcome in outcomes] == ["Error", "Error"]
    assert workers.steps == 2 and placesFree == 2
