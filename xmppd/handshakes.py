"""
``[tls] handshake_threads``: the costly step of a server's TLS handshakes
on worker threads, beside the event loop.

A server's full TLS handshake does its work in one call: the one that reads
the ClientHello and writes the server's flight (key exchange, key schedule,
the certificate's signature). It was 0.45-0.5 ms of the 2.6-2.8 ms of the
event loop's CPU that a login costs (STARTTLS, SCRAM, bind, roster,
presence), and OpenSSL runs it without Python's GIL -- pyOpenSSL's cffi
bindings release it around every call -- so on a worker thread it runs
on another core while the event loop goes on with other streams. Prosody
runs all of a handshake in its event loop; ejabberd's TLS runs on its
schedulers, one per core.

Only that one step moves: the rest of the handshake (the client's
Finished, a few tens of µs) and every record after it stay on the event
loop, where a stream's reads and writes are ordered. While the step runs
on a worker, the connection's TLS object belongs to the worker alone:
``xmppd.tlstransport`` holds what the socket delivers meanwhile and defers
writes, closes and the connection's loss until the step is back.

A step moves only when a worker has a place for it: the one it runs and
one waiting behind it (``STEPS_PER_WORKER``); otherwise it runs on the
event loop as before. So a burst of ClientHellos queues at most one step
deep behind each worker, and the number of handshakes in flight on
workers is bounded. The waiting place is there because a worker whose C
call is done still has to take the GIL back from the busy event loop
(up to Python's switch interval, 5 ms) before its place is free again:
with one place per worker, a third of the steps found none and ran on
the event loop, at about 0.47 ms each.
"""

import queue
import threading

from OpenSSL import SSL
from OpenSSL._util import lib as _lib
from twisted.application import service
from twisted.logger import Logger
from twisted.python.failure import Failure

log = Logger()

# The outcome of a step that wants more input (the usual one for the
# ClientHello's step: the client's Finished is still to come).
WANT_READ = "want-read"

_running = None

# The steps a worker takes at once: the one it runs and one waiting.
STEPS_PER_WORKER = 2


def running():
    """The started HandshakeWorkers, or None: then every step runs inline."""
    return _running


_SSL_do_handshake = _lib.SSL_do_handshake
_SSL_get_error = _lib.SSL_get_error
_SSL_ERROR_WANT_READ = _lib.SSL_ERROR_WANT_READ


def step(connection):
    """
    One handshake step of ``connection``, on whatever thread calls it: None
    (the handshake is complete), WANT_READ, or the SSL.Error it failed with.
    It is pyOpenSSL's own call, not the connection class's, which may log:
    logging a failure is the event loop's business (xmppd.tlstransport).

    The usual outcome, the ClientHello's step wanting the client's
    Finished, is found without pyOpenSSL's WantReadError: raising it (and
    reading the connection's context four times past its __getattr__) is
    Python that holds the GIL the event loop waits for. Every other
    outcome, and one where a callback recorded a failure, is pyOpenSSL's.
    """
    try:
        ssl = connection._ssl
        result = _SSL_do_handshake(ssl)
        if (result <= 0 and _SSL_get_error(ssl, result) == _SSL_ERROR_WANT_READ
                and not _callbackFailed(connection)):
            return WANT_READ
        connection._raise_ssl_error(ssl, result)
        return None
    except SSL.WantReadError:
        return WANT_READ
    except SSL.Error as e:
        return e
    except Exception as e:      # a callback's bug: the connection fails, not the worker
        return SSL.Error([("", "", "handshake step failed: %r" % (e,))])


def _callbackFailed(connection):
    """Whether a callback of the handshake (verify, ALPN, OCSP) left a failure to raise."""
    context = connection._context
    for helper in (context._verify_helper, context._alpn_select_helper, context._ocsp_helper):
        if helper is not None and helper._problems:
            return True
    return False


class HandshakeWorkers(service.Service):
    """``threads`` worker threads for the ClientHello's step of server handshakes."""

    name = "tls-handshake-workers"

    def __init__(self, threads, reactor=None):
        self.threads = threads
        self._reactor = reactor
        self._jobs = None
        self._workers = []
        # One token per free place (STEPS_PER_WORKER per worker). A worker
        # gives its token back as soon as its step is done, from its own
        # thread (list.append and pop are atomic): the event loop learns
        # of the step's end only after the events of its current turn, and
        # a worker waiting for that would be idle but unavailable half of
        # the time.
        self._idleTokens = []
        # Steps run on the workers so far (tests, and the curious operator).
        self.steps = 0

    def startService(self):
        global _running
        service.Service.startService(self)
        if self._reactor is None:
            from twisted.internet import reactor
            self._reactor = reactor
        self._jobs = queue.SimpleQueue()
        for number in range(self.threads):
            worker = threading.Thread(target=self._work, name="xmppd-tls-%d" % number,
                                      daemon=True)
            worker.start()
            self._workers.append(worker)
        self._idleTokens = [None] * (self.threads * STEPS_PER_WORKER)
        _running = self

    def stopService(self):
        global _running
        service.Service.stopService(self)
        if _running is self:
            _running = None
        self._idleTokens = []
        # A worker finishes the step it is in (under a millisecond) and
        # stops; its answer to a stopped reactor is dropped with it.
        for _worker in self._workers:
            self._jobs.put(None)
        self._workers = []

    def tryStep(self, connection, done):
        """
        Run ``connection``'s next handshake step on a worker and call
        ``done(outcome)`` on the event loop when it is back: None (the
        handshake is complete), WANT_READ, or the SSL.Error it raised.
        False, and nothing happens, when every worker's places are taken.
        """
        try:
            self._idleTokens.pop()
        except IndexError:
            return False
        self._jobs.put((connection, done, self._idleTokens))
        return True

    @property
    def idle(self):
        """How many more steps the workers would take now."""
        return len(self._idleTokens)

    def _work(self):
        jobs, reactor = self._jobs, self._reactor
        while True:
            job = jobs.get()
            if job is None:
                return
            connection, done, tokens = job
            outcome = step(connection)
            # The token goes back to the list it came from: after a stop
            # (and a start) it is the old one, and the token is dropped.
            tokens.append(None)
            reactor.callFromThread(self._stepped, done, outcome)

    def _stepped(self, done, outcome):
        self.steps += 1
        try:
            done(outcome)
        except Exception:
            log.failure("TLS handshake step's completion failed")


# What a client may send while the ClientHello's step is on a worker: a
# TLS client waits for the server's flight, so anything near this is not
# one, and the connection is aborted rather than its input held.
MAX_HELD_INPUT = 65536


class StepOnWorker:
    """
    xmppd.tlstransport's side of the hand-off: LeanTLSProtocol's server
    connections send their ClientHello's step to the workers, and hold
    what arrives meanwhile. Its reads, writes, closes and the connection's
    loss check ``_offloaded`` and wait for ``_stepBack``.
    """

    # A server's first input (the ClientHello) was seen: only its step moves
    # to a worker.
    _helloSeen = False
    # The ClientHello's step is on a worker; what arrives, and a close or
    # the connection's loss, wait for it here.
    _offloaded = False
    _heldInput = None
    _heldSize = 0
    _loseAfterStep = False
    _lostDuringStep = None

    def _offloadStep(self, connection):
        workers = running()
        if workers is None or self._aborted:
            return False
        if not workers.tryStep(connection, self._stepBack):
            return False
        self._offloaded = True
        return True

    def _holdInput(self, data):
        if self._aborted:
            return
        if self._heldInput is None:
            self._heldInput = []
        self._heldInput.append(data)
        self._heldSize += len(data)
        if self._heldSize > MAX_HELD_INPUT:
            log.info("{peer} sent {size} bytes before the server's TLS flight: aborted",
                     peer=self.transport.getPeer(), size=self._heldSize)
            self._heldInput = None
            self.abortConnection()

    def _stepBack(self, outcome):
        """The worker's step is done: the connection is the event loop's again."""
        self._offloaded = False
        held, self._heldInput, self._heldSize = self._heldInput, None, 0
        lost, self._lostDuringStep = self._lostDuringStep, None
        if lost is not None:
            self.connectionLost(lost)
            return
        if self._aborted:
            return
        connection = self._tlsConnection
        if outcome is WANT_READ:
            self._scheduleFlush()
        elif outcome is None:
            finished = getattr(connection, "handshakeFinished", None)
            if finished is not None:
                finished()
            self._handshakeSucceeded(connection)
            if not (self._aborted or self._lostTLSConnection):
                self._readAfterHandshake()
        else:
            logFailure = getattr(connection, "logHandshakeFailure", None)
            if logFailure is not None:
                logFailure(outcome)
            self._tlsShutdownFinished(Failure(outcome))
            return
        for data in held or ():
            if self._aborted or self._lostTLSConnection:
                return
            self.dataReceived(data)
        if self._loseAfterStep:
            self._loseAfterStep = False
            self.loseConnection()
