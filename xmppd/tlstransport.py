"""
The TLS layer under xmppd's streams: Twisted's TLSMemoryBIOProtocol with
the Python work per TLS record taken out of its hot paths.

Twisted's layer goes through pyOpenSSL for every record: each read calls
``Connection.recv`` until a WantReadError is raised (one exception per
read, a fresh 32 KiB buffer per call), hands each record's plaintext to
the stream in a call of its own, and schedules a timer per connection to
batch the writes of a reactor turn. On a login (ten round trips) and on a
routed message that was a third of the reactor's time beside OpenSSL's
own work. This layer:

- reads every complete record after one ``BIO_write`` in a loop of
  ``SSL_read`` calls into one shared buffer, and asks ``SSL_get_error``
  only when a call returns nothing, so a read costs no exception;
- delivers the plaintext of one socket read to the stream in one call;
- encrypts what a reactor turn wrote as one ``SSL_write`` and sends the
  ciphertext of the turn (handshake flights, alerts, application data)
  with one ``transport.write``, from one timer shared by every connection;
- holds a TLS 1.3 server's session tickets until its next write, so that
  they travel with the stream features instead of in a segment (and a
  wake-up of the client) of their own.

A server's ClientHello step, the costly part of its handshake, runs on an
idle worker of ``xmppd.handshakes`` when there is one; meanwhile the
connection's TLS object is the worker's, and what the socket delivers,
flushes, closes and the connection's loss wait for the step to be back.

The layer is Twisted's class without ProtocolWrapper's ``__getattr__``
(``xmppd.tlsbase``): every attribute read of a class with one takes
CPython's slow path.

Everything else is Twisted's: the handshake (``do_handshake`` through
pyOpenSSL, so that its callbacks -- ALPN, certificate verification -- and
their errors behave as they always did), close_notify and half-close,
producer pause and resume, the buffering of writes during a handshake.
Every error other than "no more data yet" is raised by pyOpenSSL's own
``_raise_ssl_error``, so connections fail with the same exceptions.
"""

import weakref

from OpenSSL.SSL import Error, WantReadError
from OpenSSL._util import ffi as _ffi
from OpenSSL._util import lib as _lib
from twisted.internet._newtls import ConnectionMixin, _BypassTLS
from twisted.internet.abstract import FileDescriptor
from twisted.internet.interfaces import IHandshakeListener, ISSLTransport
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.protocols.policies import ProtocolWrapper
from twisted.protocols.tls import TLSMemoryBIOFactory, TLSMemoryBIOProtocol
from twisted.python.failure import Failure
from zope.interface import directlyProvides

from xmppd import handshakes
from xmppd.tlsbase import TLSProtocolWithoutRelay, relayToTransport

log = Logger()

# All TLS work runs on the reactor thread and every read is copied out of
# the buffer before the next call, so one buffer serves every connection
# (one each would add 64 KiB to every idle session).
_BUFFER_SIZE = 65536
_buffer = _ffi.new("char[]", _BUFFER_SIZE)
# A TLS record's largest plaintext: once less than this is left of the
# buffer, what it holds is copied out before the next record is read.
_RECORD_ROOM = 16384
_copy = _ffi.buffer
_SSL_read = _lib.SSL_read
_SSL_write = _lib.SSL_write
_SSL_get_error = _lib.SSL_get_error
_BIO_read = _lib.BIO_read
_BIO_write = _lib.BIO_write
_WANT_READ = _lib.SSL_ERROR_WANT_READ
_ZERO_RETURN = _lib.SSL_ERROR_ZERO_RETURN
_TLS1_3 = _lib.TLS1_3_VERSION

# Past this much plaintext in one turn the writes go out at once, as
# Twisted's aggregation does: a turn's output is bounded, not the turn.
MAX_TURN_PLAINTEXT = 64000


class _TurnFlush:
    """
    One timer for every connection's output of a reactor turn: the
    connections that wrote (or whose TLS produced bytes) are flushed
    together when the turn's events are done, where Twisted's layer
    scheduled one timer per connection.
    """

    def __init__(self, clock):
        self.clock = clock
        self.due = []
        self.call = None

    def add(self, protocol):
        self.due.append(protocol)
        if self.call is None:
            self.call = self.clock.callLater(0, self.run)

    def run(self):
        self.call = None
        due, self.due = self.due, []
        for protocol in due:
            try:
                protocol._flushTurn()
            except Exception:
                # One connection's failure must not keep the others' bytes.
                log.failure("TLS flush of {protocol} failed", protocol=protocol)


_turnFlushes = weakref.WeakKeyDictionary()


def _turnFlushFor(clock):
    try:
        flush = _turnFlushes.get(clock)
        if flush is None:
            flush = _turnFlushes[clock] = _TurnFlush(clock)
    except TypeError:
        # A clock that takes no weak reference gets a timer of its own.
        flush = _TurnFlush(clock)
    return flush


class LeanTLSProtocol(handshakes.StepOnWorker, TLSProtocolWithoutRelay):
    """See the module docstring; the interface is TLSMemoryBIOProtocol's."""

    _flushDue = False
    _holdTickets = False
    # The plaintext written in this turn: no list at all in an idle session.
    _plaintext = None
    _plaintextSize = 0
    # pyOpenSSL's Connection relays unknown names to its socket with a
    # __getattr__ too: the OpenSSL objects a record's work uses are read
    # from it once.
    _ssl = _intoSSL = _fromSSL = None
    # Where a STARTTLS connection's ciphertext goes: the TCP connection's
    # own write, past the _BypassTLS relay (another __getattr__).
    _sendCiphertext = None

    def makeConnection(self, transport):
        self._tlsConnection = connection = self.factory._creatorCallable(self)
        self._ssl = connection._ssl
        self._intoSSL = connection._into_ssl
        self._fromSSL = connection._from_ssl
        if type(transport) is _BypassTLS:
            self._sendCiphertext = transport._base.write.__get__(transport._connection)
        self._appSendBuffer = []
        if self._connectWrapped:
            # ProtocolWrapper's makeConnection provides the transport's
            # interfaces; Twisted's loop of directlyProvides, one call per
            # interface, left only the last one provided anyway.
            ProtocolWrapper.makeConnection(self, transport)
        else:
            # startTLS: the stream keeps its TCP transport, which is all it
            # sees of this layer.
            Protocol.makeConnection(self, transport)
            self.factory.registerProtocol(self)
        if self.factory._isClient:
            # A client's handshake starts by writing its ClientHello. A
            # server's waits for one: asked now, with nothing read, OpenSSL
            # wants to read, which pyOpenSSL raises as an exception.
            self._checkHandshakeStatus()

    # Reading -----------------------------------------------------------------

    def dataReceived(self, data):
        if self._offloaded:
            self._holdInput(data)
            return
        connection = self._tlsConnection
        written = _BIO_write(self._intoSSL, data, len(data))
        if written <= 0:
            connection._handle_bio_errors(self._intoSSL, written)
        if not self._handshakeDone:
            if not self._helloSeen and not self.factory._isClient:
                self._helloSeen = True
                if self._offloadStep(connection):
                    return
            self._checkHandshakeStatus()
            if not self._handshakeDone:
                return
        self._readAfterHandshake()

    def _readAfterHandshake(self):
        if self._appSendBuffer:
            # Written during the handshake: they go now, tickets and all.
            self._holdTickets = False
            self._unbufferPendingWrites()
        self._flushReceiveBIO()

    def _checkHandshakeStatus(self):
        if self._aborted:
            return
        connection = self._tlsConnection
        try:
            connection.do_handshake()
        except WantReadError:
            self._scheduleFlush()
            return
        except Error:
            self._tlsShutdownFinished(Failure())
            return
        self._handshakeSucceeded(connection)

    def _handshakeSucceeded(self, connection):
        self._handshakeDone = True
        if not self.factory._isClient and _lib.SSL_version(self._ssl) == _TLS1_3:
            # All a TLS 1.3 server's finishing handshake call wrote is its
            # session tickets, which the client needs only when it
            # reconnects: they go with the next write (the stream features
            # answering the client's header), not in a send of their own.
            # A TLS 1.2 server's Finished, and a client's, must go now.
            self._holdTickets = True
        else:
            self._scheduleFlush()
        if IHandshakeListener.providedBy(self.wrappedProtocol):
            self.wrappedProtocol.handshakeCompleted()

    def _flushReceiveBIO(self):
        connection = self._tlsConnection
        ssl = self._ssl
        chunks = []
        # SSL_read returns one record at a time, and a client sends a record
        # per stanza: the records of a read are decrypted one after the
        # other into the shared buffer and copied out of it once, not one
        # bytes object each.
        filled = 0
        # Only the close and error branches below can lose the connection:
        # it is asked after them, not before every record.
        lost = self._lostTLSConnection
        while not lost:
            size = _SSL_read(ssl, _buffer + filled, _BUFFER_SIZE - filled)
            if size > 0:
                filled += size
                if filled > _BUFFER_SIZE - _RECORD_ROOM:
                    chunks.append(_copy(_buffer, filled)[:])
                    filled = 0
                continue
            if filled:
                chunks.append(_copy(_buffer, filled)[:])
                filled = 0
            code = _SSL_get_error(ssl, size)
            if code == _WANT_READ:
                break
            # What came before the close or the error is the stream's first.
            self._deliver(chunks)
            chunks = []
            if code == _ZERO_RETURN:
                # The peer's close_notify: answer it, then let the TCP
                # connection's own loss reach the stream.
                self._shutdownTLS()
                self._tlsShutdownFinished(None)
            else:
                self._readFailed(connection, ssl, size)
            lost = self._lostTLSConnection
        if filled:
            chunks.append(_copy(_buffer, filled)[:])
        self._deliver(chunks)
        if self._holdTickets:
            self._holdTickets = False
        else:
            self._scheduleFlush()

    def _readFailed(self, connection, ssl, size):
        try:
            # pyOpenSSL's own mapping of the failure to an exception (an
            # unexpected EOF to SysCallError, the error queue to Error).
            connection._raise_ssl_error(ssl, size)
            raise Error([("", "", "SSL_read failed without an OpenSSL error")])
        except Error as e:
            failure = Failure()
            if not self._handshakeDone:
                logFailure = getattr(connection, "logHandshakeFailure", None)
                if logFailure is not None:
                    logFailure(e)
        self._tlsShutdownFinished(failure)

    def _deliver(self, chunks):
        if not chunks or self._aborted:
            return
        self.wrappedProtocol.dataReceived(chunks[0] if len(chunks) == 1 else b"".join(chunks))

    # Writing -----------------------------------------------------------------

    def write(self, data):
        # Twisted's rule: nothing after loseConnection unless a producer is
        # still registered. What this accepts is sent, before close_notify.
        if self.disconnecting and self._producer is None:
            return
        plaintext = self._plaintext
        if plaintext is None:
            self._plaintext = [data]
            size = len(data)
        else:
            plaintext.append(data)
            size = self._plaintextSize + len(data)
        self._plaintextSize = size
        if size > MAX_TURN_PLAINTEXT and not self._offloaded:
            self._encryptPlaintext()
            self._flushSendBIO()
        elif not self._flushDue:
            self._flushDue = True
            self.factory.turnFlush.add(self)

    def writeSequence(self, iovec):
        self.write(b"".join(iovec))

    def _scheduleFlush(self):
        if not self._flushDue:
            self._flushDue = True
            self.factory.turnFlush.add(self)

    def _flushTurn(self):
        self._flushDue = False
        if self._offloaded:
            # The step's end schedules the flush of the flight it wrote.
            return
        if self._lostTLSConnection or self._tlsConnection is None:
            self._dropPlaintext()
            return
        self._encryptPlaintext()
        self._flushSendBIO()

    def _encryptPlaintext(self):
        plaintext = self._plaintext
        if plaintext is None:
            return
        self._dropPlaintext()
        if len(plaintext) == 1:
            self._write(plaintext[0])
        else:
            self._write(b"".join(plaintext))

    def _dropPlaintext(self):
        self._plaintext = None
        self._plaintextSize = 0

    def _write(self, data):
        """
        Encrypt ``data`` into the send BIO (sent by the next flush); during
        a handshake it waits in ``_appSendBuffer``, as in Twisted.
        """
        if self._lostTLSConnection:
            return
        connection = self._tlsConnection
        ssl = self._ssl
        total = len(data)
        pointer = data
        sent = 0
        while sent < total:
            size = _SSL_write(ssl, pointer, total - sent)
            if size > 0:
                # Without SSL_MODE_ENABLE_PARTIAL_WRITE a memory BIO takes
                # it all; the loop is for a context that sets the mode.
                sent += size
                if sent < total:
                    view = _ffi.from_buffer(data)
                    pointer = view + sent
                continue
            if _SSL_get_error(ssl, size) == _WANT_READ:
                self._bufferedWrite(data[sent:])
                return
            try:
                connection._raise_ssl_error(ssl, size)
                raise Error([("", "", "SSL_write failed without an OpenSSL error")])
            except Error:
                self._tlsShutdownFinished(Failure())
            return

    def _flushSendBIO(self):
        bio = self._fromSSL
        size = _BIO_read(bio, _buffer, _BUFFER_SIZE)
        if size <= 0:
            return
        data = _copy(_buffer, size)[:]
        if size == _BUFFER_SIZE:
            chunks = [data]
            while size == _BUFFER_SIZE:
                size = _BIO_read(bio, _buffer, _BUFFER_SIZE)
                if size > 0:
                    chunks.append(_copy(_buffer, size)[:])
            data = b"".join(chunks)
        send = self._sendCiphertext
        if send is None:
            self.transport.write(data)
        else:
            send(data)

    # Closing -----------------------------------------------------------------

    def _shutdownTLS(self):
        # What was written before the close goes before close_notify.
        if self._handshakeDone and not self._lostTLSConnection:
            self._encryptPlaintext()
        TLSMemoryBIOProtocol._shutdownTLS(self)

    def loseConnection(self):
        if self._offloaded:
            self._loseAfterStep = True
            return
        if self._tlsConnection is not None and not self._lostTLSConnection:
            self._encryptPlaintext()
            self._flushSendBIO()
        TLSMemoryBIOProtocol.loseConnection(self)

    def abortConnection(self):
        self._dropPlaintext()
        if self._offloaded:
            # No close_notify from a TLS object that is the worker's: the
            # TCP connection goes, and its loss waits for the step.
            self._aborted = True
            self.disconnecting = True
            self.transport.abortConnection()
            return
        TLSMemoryBIOProtocol.abortConnection(self)

    def connectionLost(self, reason):
        if self._offloaded:
            self._lostDuringStep = reason
            return
        self._dropPlaintext()
        TLSMemoryBIOProtocol.connectionLost(self, reason)


relayToTransport(LeanTLSProtocol)


class LeanTLSFactory(TLSMemoryBIOFactory):
    """TLSMemoryBIOFactory building LeanTLSProtocol: for TLS listeners."""

    protocol = LeanTLSProtocol

    def __init__(self, contextFactory, isClient, wrappedFactory, clock=None):
        TLSMemoryBIOFactory.__init__(self, contextFactory, isClient, wrappedFactory, clock)
        self._isClient = isClient
        self.turnFlush = _turnFlushFor(self._clock)


def _startTLSFactory(contextFactory, isClient):
    """
    The factory of ``contextFactory``'s STARTTLS connections, made once per
    context rather than once per connection (8 µs each).
    """
    factory = getattr(contextFactory, "_startTLSFactory", None)
    if factory is None or factory._isClient != isClient:
        factory = LeanTLSFactory(contextFactory, isClient, None)
        try:
            contextFactory._startTLSFactory = factory
        except AttributeError:
            pass
    return factory


def startTLS(transport, contextFactory):
    """
    ``transport.startTLS(contextFactory)`` with LeanTLSProtocol: STARTTLS
    on a TCP connection, in the direction of the connection (a server's
    accepted connection becomes the TLS server).

    It is Twisted's ``_newtls.startTLS`` with the one difference of the
    protocol class; a transport that is not Twisted's TCP connection (a
    test's fake, another reactor's) gets its own ``startTLS``.
    """
    if not isinstance(transport, ConnectionMixin) or transport.TLS:
        return transport.startTLS(contextFactory)
    isClient = transport._tlsClientDefault
    # A registered producer goes to the TLS layer, which merges its own
    # pauses with the TCP connection's.
    producer, streaming = None, None
    if transport.producer is not None:
        producer, streaming = transport.producer, transport.streamingProducer
        transport.unregisterProducer()
    factory = _startTLSFactory(contextFactory, isClient)
    tlsProtocol = factory.protocol(factory, transport.protocol, False)
    transport.protocol = tlsProtocol
    transport.getHandle = tlsProtocol.getHandle
    transport.getPeerCertificate = tlsProtocol.getPeerCertificate
    directlyProvides(transport, ISSLTransport)
    transport.TLS = True
    tlsProtocol.makeConnection(_BypassTLS(FileDescriptor, transport))
    if producer:
        transport.registerProducer(producer, streaming)
