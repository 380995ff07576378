"""
A bound client resource and its state; the manager of them all, the one
place that answers "which resources of this account can receive a stanza
now?", is ``xmppd.sessionmanager``.

A session moves through RFC 6121's states: bound → (roster requested) →
available with a priority → unavailable. Modules learn of each transition
through their host's events instead of inspecting streams, so that a later
multi-node session registry can replace this class without touching them.

A session ends the moment its stream starts to end -- the client's
``</stream:stream>`` read, a stream error sent, the TCP connection lost --
not when the socket finally closes: under TLS a closing connection discards
every write while it waits for the peer's close_notify, so a session left
bound in that window would swallow what was routed to it. From then on it
is no target; what it held, what is routed to it afterwards, and the
messages it wrote that the client never acknowledged (``xmppd.acks``) are
routed again, in order, through the account's pipeline. With XEP-0198
resumption on, a lost connection hibernates the session instead: it stays a
target and queues for the client until it resumes or the timeout ends it.
"""

from twisted.internet import defer
from twisted.python import log
from twisted.words.protocols.jabber import error
from twisted.words.protocols.jabber.jid import InvalidFormat
from twisted.words.protocols.jabber.xmlstream import toResponse

from xmppd.acks import AckRequests, AckTracker
from xmppd.events import SESSION_LEFT_BEHIND
from xmppd.replies import resultText
from xmppd.stanzas import NS_CLIENT, STANZA_NAMES, stanzaError
from xmppd.stanzas import canWait, checkStanza, isLegacySessionRequest, isMessage, jidFromAttribute

# Fired on the host with (session, stanzas) when a session ends holding
# stanzas it never delivered: the message router routes them again.
LEFT_BEHIND_EVENT = SESSION_LEFT_BEHIND
# A sender whose stanzas wait this deep in the server (on their way to
# storage) is not read from until the backlog halves: what is accepted and
# not yet durable stays small, whatever the client sends.
INTAKE_HIGH = 64
INTAKE_LOW = 32


# Stanzas an inactive client (XEP-0352) keeps waiting at most; past this
# they are all sent, so a quiet phone never costs the server unbounded memory.
DEFERRED_LIMIT = 256


class Session(AckRequests):
    """One bound resource of an account, on one client stream."""

    # The core's own attributes live in slots: as a plain instance the 30 of
    # them overflowed CPython's shared-key dict into a 1.5 KiB one of its
    # own, in every idle session. Modules still hang their flags on a
    # session (carbons, mamSyncing, ...) in the __dict__, created on the
    # first one.
    __slots__ = (
        "manager", "jid", "bareJID", "fullJID", "stream", "available", "priority",
        "presence", "rosterRequested", "_directedPresence", "closed", "hibernating",
        "streamManagement", "acks", "storedLeftUnacked", "lastRowWritten", "_holds",
        "_held", "holdCarried", "_hibernationWatchers", "inactive", "_deferred",
        "_ackRequested", "_ackTimer", "_probes", "_probeNumbers", "received",
        "handled", "_handledAhead", "_paused", "host", "__dict__", "__weakref__",
    )

    def __init__(self, manager, jid, stream):
        self.manager = manager
        self.jid = jid
        # The Host serving this resource's domain, which never changes (the
        # server's hosts are fixed at start): looked up once, not through a
        # property on every stanza the client sends.
        self.host = manager.server.hosts[jid.host]
        self.bareJID = jid.userhostJID()
        # Stamped on every stanza the client sends (RFC 6120 §8.1.2.1).
        self.fullJID = jid.full()
        self.stream = stream
        self.available = False
        self.priority = 0
        self.presence = None
        self.rosterRequested = False
        self._directedPresence = None
        self.closed = False
        self.hibernating = False
        # Set by the stream_management module when the client enables it.
        self.streamManagement = None
        self.acks = AckTracker()
        self.storedLeftUnacked = False
        # The last offline row written here: rows up to it are on their way.
        self.lastRowWritten = 0
        self._holds = 0
        self._held = []
        self.holdCarried = False
        self._hibernationWatchers = ()
        # XEP-0352: while the client says it is inactive, what can wait
        # (presence, chat states) waits here, in order, until it is active
        # again or something that cannot wait (a message with a body) comes.
        self.inactive = False
        self._deferred = []
        self._ackRequested = False
        self._ackTimer = None
        self._probes = {}
        self._probeNumbers = 0
        # Stanzas from the client: how many arrived, how many are handled
        # (routed, stored or bounced), for XEP-0198's h and the intake bound.
        self.received = 0
        self.handled = 0
        # Numbers handled out of order; created when one is (rare).
        self._handledAhead = None
        self._paused = False

    def __repr__(self):
        return "<Session %s>" % self.jid.full()

    @property
    def directedPresence(self):
        """
        Where this resource sent directed presence (RFC 6121 §4.6), created
        on first use: most resources never send any, and an empty set per
        idle session is memory for nothing.
        """
        if self._directedPresence is None:
            self._directedPresence = set()
        return self._directedPresence

    @property
    def isTarget(self):
        """Whether stanzas routed now reach this resource (now or on resumption)."""
        return not self.closed

    # Sending ---------------------------------------------------------------------

    def send(self, stanza):
        """
        Send a routed stanza: a message is queued behind a hold (offline
        delivery), anything else written. A session that has ended takes nothing: the stanza is routed
        again as if this resource had never been there.
        """
        if self.closed:
            self.manager.leftBehind(self, [stanza])
            return False
        if self.inactive:
            if canWait(stanza) and len(self._deferred) < DEFERRED_LIMIT:
                self._deferred.append(stanza)
                return True
            self._flushDeferred()
        if self._holds and isMessage(stanza):
            # Only messages wait: their order against the stored ones is the
            # point, and an IQ answer held behind a client's own
            # acknowledgement could keep both waiting.
            self._held.append(stanza)
            return True
        self.write(stanza)
        return True

    def write(self, stanza, rowId=None, bounded=True, message=None):
        """
        Write past any hold, counting the stanza and keeping it until the
        client acknowledges it if it is a message (every stanza under
        XEP-0198, which resends them all on resumption). ``stanza`` may be
        the stored XML text of an offline message, with its ``rowId``, or,
        with ``message`` false, other text (the server's IQ results,
        ``sendResult``). Unless ``bounded`` is false (a resumption writes
        everything again first), the unacknowledged bound is checked after
        it.

        One frame: every routed stanza comes here through ``send``.
        """
        if rowId is not None:
            if rowId > self.lastRowWritten:
                self.lastRowWritten = rowId
            message = True
        elif message is None:
            # The class asked, not the stanza: isinstance(element, str)
            # reads the element's __class__, a slow read on a domish Element.
            message = issubclass(type(stanza), str) or stanza.name == "message"
        acks = self.acks
        sm = self.streamManagement
        acks.wrote(stanza, rowId, message or sm is not None)
        if self.stream is not None:
            self.stream.send(stanza)
        if not bounded:
            return
        limit = sm.maxUnacked if sm is not None else self.manager.server.maxUnacknowledged
        if len(acks.unacked) > limit:
            self._checkUnacked(False)
        elif message and rowId is None and not self._ackRequested:
            self._askForAckSoon()

    def _checkUnacked(self, askSoon):
        sm = self.streamManagement
        limit = sm.maxUnacked if sm is not None else self.manager.server.maxUnacknowledged
        if len(self.acks.unacked) > limit:
            # A client that never acknowledges (or never comes back to
            # resume, or never answers an IQ) would grow this queue for good.
            if self.hibernating:
                self.manager.unbind(self)
            else:
                self.sendStreamError("policy-violation", "too many unacknowledged stanzas")
        elif askSoon and not self._ackRequested:
            self._askForAckSoon()

    def writeReply(self, stanza):
        """An answer of the server's own to this client (errors, results)."""
        if not self.closed:
            self.write(stanza)

    def sendResult(self, iq, payload=None):
        """
        The server's result for this client's ``iq``, with ``payload`` (an
        element or its XML text) in it: what ``send(toResponse(iq,
        "result"))`` writes, from text (``xmppd.replies``). As for any IQ,
        nothing waits behind a hold, and a session that has ended takes
        nothing (a result for a resource that is gone goes nowhere).
        """
        if self.closed:
            return False
        if self.inactive:
            # XEP-0352: what waited goes first, as ``send`` does for an IQ.
            self._flushDeferred()
        # Kept under XEP-0198, to be written again on resumption; never
        # routed again when the session ends (text is not a live stanza).
        self.write(resultText(iq, payload), message=False)
        return True

    def setInactive(self, inactive):
        """XEP-0352: the client's ``<inactive/>`` or ``<active/>``."""
        self.inactive = inactive
        if not inactive:
            self._flushDeferred()

    def _flushDeferred(self):
        deferred, self._deferred = self._deferred, []
        inactive, self.inactive = self.inactive, False
        for stanza in deferred:
            self.send(stanza)
        self.inactive = inactive

    def hold(self):
        """Queue routed stanzas behind whatever ``write`` sends until ``release``."""
        self._holds += 1

    def release(self):
        """
        The offline delivery that held this session's messages ended. If the
        resource stopped being a target (unavailable, or below priority 0)
        meanwhile, stored messages older than the held ones may still be
        stored: the held ones go back to routing -- to another resource, or
        to storage behind the stored ones -- instead of being written ahead
        of those. If it hibernates (XEP-0198), the hold carries over to the
        delivery its resumption starts (``holdCarried``), so that what is
        held, and what arrives meanwhile, follows the rows not yet sent.
        """
        self._holds -= 1
        if self._holds or self.closed:
            return
        if not (self.available and self.priority >= 0):
            held, self._held = self._held, []
            if held:
                self.manager.leftBehind(self, held)
            return
        if self.hibernating:
            self._holds = 1
            self.holdCarried = True
            return
        held, self._held = self._held, []
        for stanza in held:
            self.write(stanza)

    def writeStored(self, rows, ask=False):
        """
        Write stored ``(rowId, sender, xml)`` rows past any hold, as ``write``
        would one by one, but in one write into the stream: a drain of
        thousands pays one TLS record and one socket write per batch. With
        ``ask``, then ``requestAck`` and return its waiter: an IQ probe goes
        in that same write, not in a TLS record of its own.
        """
        if not rows:
            return self.requestAck() if ask else None
        wrote = self.acks.wrote
        for rowId, _sender, xml in rows:
            wrote(xml, rowId)
        last = rows[-1][0]
        if last > self.lastRowWritten:
            self.lastRowWritten = last
        data = "".join([row[2] for row in rows])
        waiter = None
        if ask and self.streamManagement is None and self.stream is not None and not self.closed:
            waiter = self.acks.whenAcked()
            self._ackRequested = True
            self._watchAck()
            data += self._newProbe()
        if self.stream is not None:
            self.stream.send(data)
        self._checkUnacked(False)
        if ask and waiter is None:
            return self.requestAck()
        return waiter

    def takeCarriedHold(self):
        """
        True if a delivery that ended while this session hibernated left its
        hold on: the next delivery takes it over instead of adding its own.
        """
        carried, self.holdCarried = self.holdCarried, False
        return carried

    # Ending ----------------------------------------------------------------------

    def sendStreamError(self, condition, text=None):
        if self.stream is not None:
            self.stream.sendStreamError(error.StreamError(condition, text=text))

    def abandon(self):
        """
        The session is over: what the client may not have seen, in the order
        it was meant to arrive -- the unacknowledged live stanzas, then the
        held ones. Unacknowledged offline rows are not among them: they are
        still stored and stay so (``storedLeftUnacked`` tells delivery).
        """
        left = []
        for written in self.acks.abandon():
            if written.rowId is not None:
                self.storedLeftUnacked = True
            elif not isinstance(written.stanza, str):
                left.append(written.stanza)
        left.extend(self._held)
        left.extend(self._deferred)
        self._held = []
        self._deferred = []
        self._probes.clear()
        self._hibernationWatchers = ()
        if self._ackTimer is not None and self._ackTimer.active():
            self._ackTimer.cancel()
        self._ackTimer = None
        return left

    def hibernate(self):
        """XEP-0198: the connection is gone but the client may resume."""
        self.hibernating = True
        self.stream = None
        if self._ackTimer is not None and self._ackTimer.active():
            self._ackTimer.cancel()
        self._ackTimer = None
        watchers, self._hibernationWatchers = self._hibernationWatchers, ()
        for watcher in watchers:
            watcher.callback(None)

    def whenHibernating(self):
        """Fires if the session hibernates (offline delivery stops waiting then)."""
        watcher = defer.Deferred()
        self._hibernationWatchers = self._hibernationWatchers + (watcher,)
        return watcher

    def unwatchHibernation(self, watcher):
        """
        A ``whenHibernating`` watcher no longer needed: a long-lived session
        would otherwise keep one (and what waits on it) per delivery it had.
        """
        self._hibernationWatchers = tuple(
            w for w in self._hibernationWatchers if w is not watcher)

    def resumeOn(self, stream, acked):
        """
        Continue on a new stream from the client's ``acked``: write again,
        in order, everything it lacks, then what was held.
        """
        self.stream = stream
        self.hibernating = False
        lost, waiters = self.acks.renumber(acked)
        # All of them first, then the bound: a stream closed half way through
        # would otherwise drop what it had not yet been given again.
        for written in lost:
            self.write(written.stanza, written.rowId, bounded=False)
        self.acks.rewaiting(waiters)
        self._checkUnacked(False)

    # Receiving -------------------------------------------------------------------

    def receivedFromClient(self, stanza):
        """Check and stamp a stanza from this client, then route it (RFC 6120 §8)."""
        # The element's fields read once: every attribute read of a domish
        # element takes CPython's slow path (its __getattr__).
        fields = stanza.__dict__
        name = fields["name"]
        if fields["uri"] != NS_CLIENT:
            if name in STANZA_NAMES:
                return self.sendStreamError("invalid-namespace")
            return self.sendStreamError("unsupported-stanza-type")
        if name not in STANZA_NAMES:
            return self.sendStreamError("unsupported-stanza-type")
        attributes = fields["attributes"]
        sender = attributes.get("from")
        if sender is not None:
            try:
                claimed = jidFromAttribute(sender)
            except (InvalidFormat, UnicodeError, ValueError):
                return self.sendStreamError("invalid-from")
            if claimed != self.jid and claimed != self.bareJID:
                return self.sendStreamError("invalid-from")
        self.received += 1
        number = self.received
        isIQ = name == "iq"
        if isIQ and self._probeAnswered(stanza):
            return self._handledNow(number)
        attributes["from"] = self.fullJID
        problem = checkStanza(stanza, name, attributes)
        if problem is not None:
            if attributes.get("type") != "error":
                self.writeReply(stanzaError(stanza, *problem))
            return self._handledNow(number)
        if isIQ and isLegacySessionRequest(stanza):
            # RFC 3921's session establishment is a no-op kept for old clients.
            self.writeReply(toResponse(stanza, "result"))
            return self._handledNow(number)
        try:
            self.manager.server.routeFromClient(stanza, self, name, attributes)
        except Exception:
            log.err(None, "routing a stanza from %s failed" % self.jid.full())
        # Set by the router on a message; read from the element's own
        # attributes, never its children (a <handling/> child would do).
        handling = fields.get("handling")
        if handling is None or handling.called:
            if number == self.handled + 1 and self._handledAhead is None and not self._paused:
                # _handledNow's whole work when nothing is out of order or held.
                self.handled = number
                return None
            return self._handledNow(number)
        handling.addBoth(self._handledLater, number)
        if self.received - self.handled >= INTAKE_HIGH and not self._paused:
            self._paused = True
            self.stream.pauseIntake()

    def _handledLater(self, result, number):
        self._handledNow(number)
        return None

    def _handledNow(self, number):
        if number != self.handled + 1:
            if self._handledAhead is None:
                self._handledAhead = set()
            self._handledAhead.add(number)
            return
        self.handled = number
        ahead = self._handledAhead
        while ahead and self.handled + 1 in ahead:
            ahead.discard(self.handled + 1)
            self.handled += 1
        if ahead is not None and not ahead:
            self._handledAhead = None
        if self._paused and self.received - self.handled <= INTAKE_LOW:
            self._paused = False
            if self.stream is not None:
                self.stream.resumeIntake()
