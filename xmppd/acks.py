"""
What a client has acknowledged: the stanzas written to one session and not
yet known to have arrived.

A write into a TCP socket proves nothing: a phone that lost its network, a
client frozen by its OS, or a connection reset by a middlebox accept bytes
that nobody will read. So every stanza a session writes gets a number (its
place in the stream, as XEP-0198 counts), and the messages among them stay
here until the client acknowledges a number at or past theirs -- with
XEP-0198's ``<a h/>`` when stream management is on, otherwise with its
answer to an IQ probe the session sent after them (a result or an
error: either proves that everything before it was read). What is still
here when the session ends is what the client may never have seen: its
messages are routed again and its stored rows stay stored.
"""

from collections import deque

from twisted.internet import defer
from twisted.words.protocols.jabber import error
from twisted.words.xish.domish import escapeToXml

# What asks a client without XEP-0198 to acknowledge what it has read: an
# IQ get, which RFC 6120 §8.2.3 obliges every client to answer (a result or
# an error both prove that everything before it was read). A disco#info
# query rather than a XEP-0199 ping: every client answers disco (XEP-0030,
# needed for caps), whereas go-sendxmpp 0.5.6, in --listen mode, crashes on
# a ping from its server.
NS_ACK_PROBE = "http://jabber.org/protocol/disco#info"
ACK_PROBE_ID = "xmppd-ack-%d"
_ACK_PROBE = "<iq type='get' id='%s' from='%s' to='%s'><query xmlns='" + NS_ACK_PROBE + "'/></iq>"


def probeXML(probeId, domain, fullJID):
    """The probe as a stream writes it: text to go in the same write as what it follows."""
    return _ACK_PROBE % (probeId, escapeToXml(domain, 1), escapeToXml(fullJID, 1))


class Written:
    """One tracked stanza: its number, the stanza (or its XML) and its offline row."""

    __slots__ = ("number", "stanza", "rowId")

    def __init__(self, number, stanza, rowId):
        self.number = number
        self.stanza = stanza
        self.rowId = rowId


_newWritten = object.__new__

# What ``unacked`` and the waiters are while empty: an empty deque costs
# about 600 bytes, and most sessions spend most of their life with nothing
# unacknowledged.
EMPTY = ()


class AckTracker:
    # One per session: slots instead of an instance dict.
    __slots__ = ("written", "acked", "unacked", "_waiters")

    def __init__(self):
        self.written = 0
        self.acked = 0
        self.unacked = EMPTY
        self._waiters = EMPTY

    def __len__(self):
        return len(self.unacked)

    def wrote(self, stanza=None, rowId=None, track=True):
        """Count one stanza written; keep it until acknowledged if ``track``."""
        self.written += 1
        if track:
            if self.unacked is EMPTY:
                self.unacked = deque()
            # Written(...) without its __init__ frame: one per message written.
            written = _newWritten(Written)
            written.number = self.written
            written.stanza = stanza
            written.rowId = rowId
            self.unacked.append(written)
        return self.written

    def whenAcked(self, number=None):
        """
        A Deferred that fires True once stanza ``number`` (default: the last
        written) is acknowledged, or False if the session ends first.
        """
        number = self.written if number is None else number
        if number <= self.acked:
            return defer.succeed(True)
        waiter = defer.Deferred()
        if self._waiters is EMPTY:
            self._waiters = deque()
        self._waiters.append((number, waiter))
        return waiter

    def ackUpTo(self, number):
        """The client has everything up to ``number``; fire who waited on it."""
        number = min(number, self.written)
        if number <= self.acked:
            return
        self.acked = number
        unacked = self.unacked
        if unacked and unacked[-1].number <= number:
            # Everything written is acknowledged, the usual answer to a
            # probe after a burst: let go of it at once, not one by one.
            self.unacked = EMPTY
        else:
            while unacked and unacked[0].number <= number:
                unacked.popleft()
            if not unacked:
                self.unacked = EMPTY
        while self._waiters and self._waiters[0][0] <= number:
            self._waiters.popleft()[1].callback(True)
        if not self._waiters:
            self._waiters = EMPTY

    def renumber(self, acked):
        """
        After a XEP-0198 resumption the client has ``acked`` of our stanzas
        and counts on from there: the ones it lacks are written again, so
        they are taken out and get new numbers as they are.
        """
        self.ackUpTo(acked)
        lost = list(self.unacked)
        self.unacked = EMPTY
        self.written = self.acked
        pending, self._waiters = self._waiters, EMPTY
        return lost, pending

    def rewaiting(self, pending):
        """Put waiters back after a resumption, on the new numbering's last stanza."""
        for _, waiter in pending:
            if self._waiters is EMPTY:
                self._waiters = deque()
            self._waiters.append((self.written, waiter))

    def abandon(self):
        """The session ends: hand back what was unacked (see ``cancelWaiters``)."""
        left = list(self.unacked)
        self.unacked = EMPTY
        return left

    def cancelWaiters(self):
        """
        Fire every waiter False. Apart from ``abandon``, because a waiter
        may be a job of the account's lane that ends at once: what the
        session left behind must be queued in the lane before that.
        """
        waiters, self._waiters = self._waiters, EMPTY
        for _, waiter in waiters:
            waiter.callback(False)


class AckRequests:
    """
    A session's side of acknowledgements: asking the client (an XEP-0198
    <r/> or a probe), the answer's timeout, the probes' answers. Mixed into
    ``xmppd.sessions.Session``, whose slots hold its state (``acks``,
    ``_ackRequested``, ``_ackTimer``, ``_probes``, ``_probeNumbers``).
    """

    __slots__ = ()

    def requestAck(self):
        """
        Ask the client to acknowledge everything written so far; fire True
        when it has, False if the session ends first.
        """
        if self.closed:
            # Ended already, perhaps by the very writes being asked about
            # (too many unacknowledged): its waiters were fired, and one
            # added now would never be.
            return defer.succeed(False)
        waiter = self.acks.whenAcked()
        if not waiter.called:
            self._sendAckRequest()
        return waiter

    def _askForAckSoon(self):
        # One request for a burst of writes: the answer covers all of them.
        if not self._ackRequested and not self.closed:
            self._ackRequested = True
            self.manager.clock.callLater(0, self._sendAckRequest)

    def _sendAckRequest(self):
        self._ackRequested = True
        if self.closed or self.stream is None or self.acks.acked >= self.acks.written:
            self._ackRequested = False
            return
        self._watchAck()
        sm = self.streamManagement
        if sm is not None:
            return sm.requestAck(self)
        self.probe()

    def _watchAck(self):
        """
        A request unanswered for ``ping_timeout`` means a client that reads
        nothing: the connection is treated as lost (resumable under
        XEP-0198), or one silent client would keep its account's offline
        delivery -- and everything queued behind it -- waiting for good.
        """
        if self._ackTimer is None:
            self._ackTimer = self.manager.clock.callLater(
                self.manager.server.pingTimeout, self._ackTimedOut, self.acks.written)

    def _ackTimedOut(self, number):
        self._ackTimer = None
        if self.closed or self.stream is None:
            return
        if self.acks.acked >= number:
            if self._ackRequested:
                self._watchAck()
            return
        stream = self.stream
        stream.endSession(resumable=True)
        stream.sendStreamError(error.StreamError(
            "connection-timeout", text="no acknowledgement of what was sent"))

    def probe(self):
        """An IQ whose answer, result or error, acknowledges what came before it."""
        probe = self._newProbe()
        if self.stream is not None:
            self.stream.send(probe)

    def _newProbe(self):
        """Count a probe written now and remember its id; its XML."""
        self._probeNumbers += 1
        probeId = ACK_PROBE_ID % self._probeNumbers
        self.acks.wrote(track=False)
        if len(self._probes) >= 16:
            # A client that answers none is closed by the idle check.
            self._probes.pop(next(iter(self._probes)))
        self._probes[probeId] = self.acks.written
        return probeXML(probeId, self.jid.host, self.jid.full())

    def acknowledged(self, number):
        """The client has read our stanzas up to ``number``."""
        self.acks.ackUpTo(number)
        self._ackRequested = False
        if self.acks.unacked and self.acks.unacked[-1].rowId is None:
            self._askForAckSoon()

    def _probeAnswered(self, stanza):
        if stanza.name != "iq" or stanza.getAttribute("type") not in ("result", "error"):
            return False
        number = self._probes.pop(stanza.getAttribute("id"), None)
        if number is None:
            return False
        self.acknowledged(number)
        return True
