"""
The c2s listener: one hardened XML stream per client TCP connection.

Connection count, per-address count and the time a client may take to
authenticate and bind are bounded here, before any stanza reaches a host.
"""

from twisted.internet import protocol
from twisted.internet.interfaces import IHandshakeListener, IPushProducer
from twisted.python import log
from twisted.words.protocols.jabber import error
from twisted.words.xish import domish
from zope.interface import implementer

from xmppd.c2s.negotiation import C2SNegotiator
from xmppd.c2s.serialize import toBytes
from xmppd.c2s.xmlstream import HardenedXmlStream

# Received data is parsed in slices this large, so that a paused intake
# stops within a few stanzas of the bound, not a whole socket read later.
INTAKE_SLICE = 4096


@implementer(IPushProducer)
class OutputBudget:
    """
    Backpressure for a client that does not read what it is sent.

    Twisted buffers every write without limit: a client that flooded itself
    and never read grew the server by gigabytes. Registered as the
    transport's streaming producer, this hears when the transport's buffer
    passes its high-water mark (pause) and when it has drained (resume).
    While paused the server stops reading from the client, so a client
    flooding itself only slows itself down; bytes written in between (what
    others send it) are bytes the client has not taken, and past ``limit``
    the stream is closed.
    """

    # One per connection: slots instead of an instance dict.
    __slots__ = ("stream", "limit", "paused", "unread")

    def __init__(self, stream, limit):
        self.stream = stream
        self.limit = limit
        self.paused = False
        self.unread = 0

    def pauseProducing(self):
        self.paused = True
        self.unread = 0
        self.stream.outputBacklogged()

    def resumeProducing(self):
        self.paused = False
        self.unread = 0
        self.stream.outputDrained()

    def stopProducing(self):
        pass

    def wrote(self, size):
        """Count a write; True when the client has left too much unread."""
        if self.paused:
            self.unread += size
        return self.unread > self.limit


NO_REASONS = frozenset()


class ReadGate:
    """
    Why the server is not reading from a client, by named reason.

    Several parts of the stream pause reads for reasons of their own (the
    session's bounded intake, output backpressure, rate limits, a delayed
    login answer); each closes the gate for its reason and opens it again
    when that reason is gone, and the transport reads again only once no
    reason holds, so that one part cannot undo another's pause.
    """

    # One per connection, nearly always open: slots, and the reasons an
    # immutable set (the empty one shared) rather than a 216-byte set each.
    __slots__ = ("stream", "reasons")

    def __init__(self, stream):
        self.stream = stream
        self.reasons = NO_REASONS

    def close(self, reason):
        if not self.reasons and self.stream.transport is not None:
            self.stream.transport.pauseProducing()
        self.reasons = self.reasons | {reason}

    def open(self, reason):
        if reason not in self.reasons:
            return
        self.reasons = (self.reasons - {reason}) or NO_REASONS
        if not self.reasons and self.stream.transport is not None:
            self.stream.transport.resumeProducing()

    def forget(self, reason):
        """Drop a reason without reading again: the stream is closing."""
        self.reasons = (self.reasons - {reason}) or NO_REASONS


# The reasons a ClientStream stops reading. A paused intake also holds back
# parsing what has already arrived: the session has taken all it can.
INTAKE = "intake"
BACKLOG = "output backlog"
RATE = "rate limit"


@implementer(IHandshakeListener)
class ClientStream(HardenedXmlStream):
    """A client connection; stanzas go to its negotiator, then to its session."""

    # This class's own attributes in slots: added to Twisted's XmlStream's,
    # they overflowed CPython's shared-key instance dict (about 30 names)
    # into a 1.5 KiB dict of its own in every connection.
    keepsStanzaText = True

    __slots__ = ("readGate", "peerAddress", "lastActivity", "_authTimer", "_idleTimer",
                 "_pingSentAt", "_abortTimer", "_handshakeTimer", "_rateTimer",
                 "_rateLogged", "_unparsed", "_intakeHeld", "_output")

    def __init__(self, *args, **kwargs):
        HardenedXmlStream.__init__(self, *args, **kwargs)
        self.readGate = self.peerAddress = self.lastActivity = None
        self._authTimer = self._idleTimer = self._pingSentAt = self._abortTimer = None
        self._handshakeTimer = self._rateTimer = self._output = None
        self._rateLogged = self._intakeHeld = False
        self._unparsed = b""

    def connectionMade(self):
        server, clock = self.factory.server, self.factory.clock
        # Until SASL succeeds a client gets the small limit (Prosody's 10 KiB),
        # so that unauthenticated connections cannot hold much memory.
        self.maxStanzaSize = server.preauthStanzaSizeLimit
        self.maxStanzaDepth = server.maxStanzaDepth
        HardenedXmlStream.connectionMade(self)
        # Nagle's algorithm would hold a write (the first stored messages
        # after the presence reflection, an answer after a push) until the
        # client's delayed ACK of the previous one: up to 40 ms per exchange.
        setNoDelay = getattr(self.transport, "setTcpNoDelay", None)
        if setNoDelay is not None:
            setNoDelay(True)
        self.readGate = ReadGate(self)
        self.peerAddress = getattr(self.transport.getPeer(), "host", None)
        self.factory.connectionOpened(self)
        self.lastActivity = clock.seconds()
        self._authTimer = clock.callLater(server.authTimeout, self._authTimedOut)
        if server.idleTimeout:
            self._idleTimer = clock.callLater(server.idleTimeout, self._checkIdle)
        if self.authenticator.encrypted:
            self.tlsStarted()
        self._output = OutputBudget(self, server.outputBufferLimit)
        self.transport.registerProducer(self._output, True)

    def send(self, obj):
        kind = type(obj)
        if kind is str:
            # Text (the header and features, the closing tag) is no
            # element: zope.interface takes a microsecond to say so of a str.
            obj = obj.encode("utf-8")
        elif kind is not bytes:
            if self._output is None:
                return HardenedXmlStream.send(self, obj)
            if isinstance(obj, domish.Element):
                obj = toBytes(obj, self.namespace, self.prefixes)
            elif domish.IElement.providedBy(obj):
                obj = obj.toXml(prefixes=self.prefixes, defaultUri=self.namespace,
                                prefixesInScope=list(self.prefixes.values()))
            if isinstance(obj, str):
                obj = obj.encode("utf-8")
        # What XmlStream.send does with bytes, without asking twice more
        # whether they are an element.
        if self.rawDataOutFn:
            self.rawDataOutFn(obj)
        self.transport.write(obj)
        # OutputBudget.wrote, in this frame: every stanza written comes here.
        output = self._output
        if output is None:
            return
        if output.paused:
            output.unread += len(obj)
        if output.unread > output.limit:
            self._outputOverflowed()

    def _outputOverflowed(self):
        """
        The client does not read: the stream error is its last write (a
        best effort) and the connection is aborted, which drops what is
        buffered for it; connectionLost then ends its session as usual.
        """
        output, self._output = self._output, None
        self.transport.unregisterProducer()
        self.sendStreamError(error.StreamError(
            "policy-violation", text="more than %d bytes unread" % output.limit))
        self.transport.abortConnection()

    def tlsStarted(self):
        """
        A client that never completes the handshake (no ClientHello, or half
        of one) would keep its connection for good: closing it waits for a
        flush the handshake never allows. It is aborted instead.
        """
        self._handshakeTimer = self.factory.clock.callLater(
            self.factory.server.tlsHandshakeTimeout, self._handshakeTimedOut)

    def handshakeCompleted(self):
        if self._handshakeTimer is not None and self._handshakeTimer.active():
            self._handshakeTimer.cancel()
        self._handshakeTimer = None

    def _handshakeTimedOut(self):
        self._handshakeTimer = None
        log.msg("c2s %s: TLS handshake not completed in time, aborted" % (self.peerAddress,))
        self.endSession(resumable=False)
        self._closing = True
        self.stream = None
        self.transport.abortConnection()

    def _stopCountingOutput(self):
        # A transport with a paused producer would not finish closing.
        if self._output is not None:
            self._output = None
            self.readGate.forget(BACKLOG)
            self.transport.unregisterProducer()

    def outputBacklogged(self):
        """The transport's buffer is past its high-water mark: stop reading."""
        self.readGate.close(BACKLOG)

    def outputDrained(self):
        self.readGate.open(BACKLOG)

    def dataReceived(self, data):
        factory = self.factory
        self.lastActivity = now = factory.clock.seconds()
        rateLimits = factory.server.rateLimits
        # Nothing to charge without limits, and no account string to make
        # on every read without a per-account one.
        if rateLimits.perAddress is not None or rateLimits.perAccount is not None:
            account = self._account() if rateLimits.perAccount is not None else None
            if self._rateTimer is None:
                wait = rateLimits.charge(self.peerAddress, account, len(data), now)
                if wait > 0:
                    self._throttle(wait)
            else:
                # Read before the pause took effect (TLS had it decrypted already).
                rateLimits.charge(self.peerAddress, account, len(data), now)
        if self._intakeHeld:
            self._unparsed += data
            return
        if len(data) <= INTAKE_SLICE:
            # A read of one TLS record, often one stanza: the common case.
            return HardenedXmlStream.dataReceived(self, data)
        self._parse(data)

    def _parse(self, data):
        if len(data) <= INTAKE_SLICE and not self._intakeHeld:
            # A read of one TLS record, often one stanza: the common case.
            return HardenedXmlStream.dataReceived(self, data)
        for start in range(0, len(data), INTAKE_SLICE):
            if self._intakeHeld:
                self._unparsed += data[start:]
                return
            HardenedXmlStream.dataReceived(self, data[start:start + INTAKE_SLICE])

    def _account(self):
        username = self.authenticator.username
        return None if username is None else "%s@%s" % (username, self.authenticator.host)

    def _throttle(self, wait):
        """
        Over its rate: read nothing more until the buckets have refilled.
        What has arrived is still parsed; the client is slowed, not closed.
        """
        rateLimits = self.factory.server.rateLimits
        if not self._rateLogged:
            self._rateLogged = True
            log.msg("c2s %s: rate limited (%s), reads paused" % (
                self.peerAddress, rateLimits.describe(
                    self.peerAddress, self._account(), self.factory.clock.seconds())))
        self.readGate.close(RATE)
        self._rateTimer = self.factory.clock.callLater(wait, self._rateRefilled)

    def _rateRefilled(self):
        self._rateTimer = None
        # Another stream of the same address or account may have spent
        # the tokens meanwhile.
        wait = self.factory.server.rateLimits.wait(
            self.peerAddress, self._account(), self.factory.clock.seconds())
        if wait > 0:
            self._rateTimer = self.factory.clock.callLater(wait, self._rateRefilled)
        else:
            self.readGate.open(RATE)

    def pauseIntake(self):
        """Read nothing more from the client until ``resumeIntake``."""
        self._intakeHeld = True
        self.readGate.close(INTAKE)

    def resumeIntake(self):
        # What arrived meanwhile is parsed before anything more is read;
        # parsing it may pause the intake again, and the gate stays closed.
        self._intakeHeld = False
        unparsed, self._unparsed = self._unparsed, b""
        self._parse(unparsed)
        if not self._intakeHeld:
            self.readGate.open(INTAKE)

    def _checkIdle(self):
        """
        A client silent for ``idle_timeout`` gets an IQ probe (``Session.probe``); one that
        stays silent ``ping_timeout`` longer is a dead connection (a phone
        that lost its network) and is closed, so its presence goes offline.
        """
        server, clock = self.factory.server, self.factory.clock
        now = clock.seconds()
        if self._pingSentAt is not None and self.lastActivity >= self._pingSentAt:
            self._pingSentAt = None
        quiet = now - self.lastActivity
        if quiet < server.idleTimeout:
            self._idleTimer = clock.callLater(server.idleTimeout - quiet, self._checkIdle)
        elif self._pingSentAt is None:
            self._pingSentAt = now
            session = self.authenticator.session
            if session is not None:
                session.probe()
            self._idleTimer = clock.callLater(server.pingTimeout, self._checkIdle)
        else:
            self._idleTimer = None
            # A dead connection, not the client's choice: XEP-0198 may resume it.
            self.endSession(resumable=True)
            self.sendStreamError(error.StreamError("connection-timeout", text="no answer to the idle probe"))

    def authenticated(self):
        """A session is bound to this stream: its auth timeout is over."""
        timer, self._authTimer = self._authTimer, None
        if timer is not None and timer.active():
            timer.cancel()

    def _authTimedOut(self):
        self._authTimer = None
        if self.authenticator.session is None:
            self.sendStreamError(error.StreamError(
                "connection-timeout", text="not authenticated in time"))

    def onElement(self, element):
        if self._closing:
            return
        self.authenticator.elementReceived(element)

    def endSession(self, resumable):
        """
        The stream is ending: its session stops being a target now, before
        anything more is written into a connection that may discard it.
        """
        session = self.authenticator.session
        if session is not None:
            self.authenticator.session = None
            self.factory.server.sessions.streamEnded(session, resumable)

    def onDocumentEnd(self):
        self._stopCountingOutput()
        self.endSession(resumable=False)
        HardenedXmlStream.onDocumentEnd(self)
        self._abortLater()

    def sendStreamError(self, streamError):
        if self.stream is not None and not getattr(self, "_closing", False):
            # One line per closed stream, no traceback: what the operator
            # needs to see a hostile or broken client, and no more.
            log.msg("c2s %s: stream error %s%s" % (
                self.peerAddress, streamError.condition,
                " (%s)" % streamError.text if streamError.text else ""))
        self._stopCountingOutput()
        self.endSession(resumable=False)
        HardenedXmlStream.sendStreamError(self, streamError)
        self._abortLater()

    def _abortLater(self):
        """
        After our closing tag or stream error, the peer has ``close_timeout``
        to close its side (TLS close_notify included) before the connection
        is aborted: a TLS transport otherwise waits for ever on a peer that
        went silent, or on a handshake that never ends.
        """
        if self._abortTimer is None and self.transport is not None:
            self._abortTimer = self.factory.clock.callLater(
                self.factory.server.closeTimeout, self.transport.abortConnection)

    def connectionLost(self, reason):
        for timer in (self._authTimer, self._idleTimer, self._abortTimer, self._handshakeTimer,
                      self._rateTimer):
            if timer is not None and timer.active():
                timer.cancel()
        self._authTimer = self._idleTimer = self._abortTimer = self._handshakeTimer = None
        self._rateTimer = None
        HardenedXmlStream.connectionLost(self, reason)
        self.factory.connectionClosed(self)
        self.endSession(resumable=True)


class ClientStreamFactory(protocol.ServerFactory):
    """Builds ClientStreams and keeps the connection counts they are bounded by."""

    protocol = ClientStream

    def __init__(self, server, clock=None):
        if clock is None:
            from twisted.internet import reactor as clock
        self.server = server
        self.clock = clock
        # Every open connection (``streams``), and the admitted ones, which
        # the limits count, in all and per address.
        self.streams = set()
        self.admitted = set()
        self.perAddress = {}

    def buildProtocol(self, addr):
        negotiator = C2SNegotiator(self.server)
        xs = self.protocol(negotiator)
        xs.factory = self
        return xs

    def connectionOpened(self, xs):
        self.streams.add(xs)

    def connectionClosed(self, xs):
        self.streams.discard(xs)
        if xs in self.admitted:
            self.admitted.discard(xs)
            count = self.perAddress.get(xs.peerAddress, 1) - 1
            if count:
                self.perAddress[xs.peerAddress] = count
            else:
                self.perAddress.pop(xs.peerAddress, None)

    def admit(self, xs):
        """
        Whether the stream may go on, counting it from now on if so.

        Only admitted connections count against the limits: one that is
        refused, or has not sent its stream header yet, does not take a
        slot (those are bounded by the auth and TLS handshake timeouts), so
        that a limit of 100 per address admits 100, however many knock at
        once. A stream restart (after TLS, after SASL) is admitted already.
        """
        if xs in self.admitted:
            return True
        server = self.server
        if len(self.admitted) >= server.maxConnections:
            return False
        if self.perAddress.get(xs.peerAddress, 0) >= server.maxConnectionsPerAddress:
            return False
        self.admitted.add(xs)
        self.perAddress[xs.peerAddress] = self.perAddress.get(xs.peerAddress, 0) + 1
        return True
