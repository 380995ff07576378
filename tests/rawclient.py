"""
A raw-stanza XMPP client for tests: real TCP, real TLS, exact bytes.

It shares no code with the server (asyncio streams and ElementTree's pull
parser), so a test reads like a transcript: what this client sends, and the
exact elements that come back, in order. ``expect`` awaits the next
top-level element; ``roundTrip`` proves silence (nothing arrived before the
answer to a ping), so no test ever sleeps to wait for "nothing".

For the reliability tests it can also misbehave the way real networks and
phones do -- ``reset`` (an RST, SO_LINGER 0), ``pauseReading`` (a frozen
client whose kernel buffers fill up) -- read continuously in a task
(``keepReading``), and speak XEP-0198 stream management from the client
side (``enableSM``, ``resumeSM``, ``requestAck``, ``sendAck``), counting
inbound stanzas exactly as XEP-0198 §4 says: message, presence and iq
elements of jabber:client, never nonzas.
"""

import asyncio
import base64
import hashlib
import hmac
import os
import socket
import ssl
import struct
import uuid
import xml.etree.ElementTree as ET

from tests.rawsm import NS_SM, STANZAS, StreamManagement

NS_STREAMS = "http://etherx.jabber.org/streams"
NS_CLIENT = "jabber:client"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_STREAM_ERRORS = "urn:ietf:params:xml:ns:xmpp-streams"
TIMEOUT = 10


def q(ns, name):
    return "{%s}%s" % (ns, name)


class StreamClosed(Exception):
    pass


NS_PING = "urn:xmpp:ping"
ACK_PROBE_PREFIX = "xmppd-ack-"


class RawClient:
    """
    ``answerPings``: answer the server's XEP-0199 pings and its
    acknowledgement probes (IQ gets with an ``xmppd-ack-`` id) at once and
    keep them out of ``expect``, as every real client answers IQs; the
    server deletes delivered offline messages only once such an answer
    arrives. The answers are counted in ``pingsAnswered``. ``unacknowledged`` holds the
    ids of the messages that arrived after the last ping answered: the only
    ones the server may send again later (as offline copies) if this stream
    ends now, because it cannot know that they were read.
    """

    def __init__(self, reader, writer, answerPings=True):
        self.reader = reader
        self.writer = writer
        self.domain = None
        self.jid = None
        self.answerPings = answerPings
        self.sentClose = False
        self.pingsAnswered = 0
        self.unacknowledged = set()
        # Messages parsed so far on this connection.
        self.messagesParsed = 0
        self.sm = None
        # Answer the server's <r/> with <a h/> as it arrives.
        self.autoAck = True
        self._pump = None
        self._pauseAt = None
        self._reset()

    def _reset(self):
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0
        self.queue = []
        self.header = None
        self.streamEnded = False

    @classmethod
    async def connect(cls, port, host="127.0.0.1", answerPings=True, source=None):
        """``source``: the local address to connect from (e.g. 127.0.0.2, another IP)."""
        reader, writer = await asyncio.open_connection(
            host, port, local_addr=(source, 0) if source else None)
        return cls(reader, writer, answerPings)

    @classmethod
    async def connectDirectTLS(cls, port, host="127.0.0.1", domain="localhost", alpn=None):
        """XEP-0368: TLS from the first byte, offering the ALPN ids ``alpn``."""
        reader, writer = await asyncio.open_connection(
            host, port, ssl=tlsContext(alpn), server_hostname=domain)
        client = cls(reader, writer)
        client.domain = domain
        return client

    def alpnSelected(self):
        """The protocol the server selected by ALPN, or None."""
        return self.writer.get_extra_info("ssl_object").selected_alpn_protocol()

    # Raw I/O -----------------------------------------------------------------

    def sendRaw(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        if b"</stream:stream>" in data:
            # Nothing sent after our closing tag is read by the server.
            self.sentClose = True
        if self.sm is not None:
            self.sm.countOutbound(data)
        self.writer.write(data)

    def keepReading(self):
        """
        From now on read the socket continuously in a task, as a real
        client does, so that the server's pings and ``<r/>`` are answered
        while the test is busy elsewhere (``pauseReading`` still stops it).
        """
        self._arrived = asyncio.Event()
        self._readable = asyncio.Event()
        self._readable.set()
        self._pumpError = None
        self._pump = asyncio.ensure_future(self._pumpLoop())

    async def _pumpLoop(self):
        try:
            while True:
                await self._readable.wait()
                await self._read(None)
                self._arrived.set()
        except Exception as error:  # reported to whoever waits next
            self._pumpError = error
            self._arrived.set()

    async def _fill(self, timeout):
        if self._pump is None:
            return await self._read(timeout)
        if self._pumpError is not None:
            raise self._pumpError
        self._arrived.clear()
        await asyncio.wait_for(self._arrived.wait(), timeout)

    async def _read(self, timeout):
        data = await asyncio.wait_for(self.reader.read(65536), timeout)
        if not data:
            raise StreamClosed("connection closed")
        self.parser.feed(data)
        for event, element in self.parser.read_events():
            if event == "start":
                self.depth += 1
                if self.depth == 1:
                    self.header = element
            else:
                self.depth -= 1
                if self.depth == 1:
                    if self._received(element):
                        self.queue.append(element)
                        if element.tag == q(NS_CLIENT, "message"):
                            self.unacknowledged.add(element.get("id"))
                elif self.depth == 0:
                    self.streamEnded = True

    def _received(self, element):
        """Count and auto-answer one top-level element; True to queue it for ``expect``."""
        sm = self.sm
        if sm is not None and sm.active and element.tag in STANZAS:
            sm.inbound += 1
            sm.inboundLog.append(element)
        if element.tag == q(NS_CLIENT, "message"):
            self.messagesParsed += 1
            if self._pauseAt is not None and self.messagesParsed >= self._pauseAt:
                self._pauseAt = None
                self.pauseReading()
        if sm is not None:
            if element.tag in (q(NS_SM, "enabled"), q(NS_SM, "resumed")):
                sm.active = True
            elif element.tag == q(NS_SM, "r") and self.autoAck and sm.active:
                self.sendAck()
                sm.requestsAnswered += 1
                return False
            elif element.tag == q(NS_SM, "a"):
                sm.serverH = int(element.get("h"))
                sm.acksReceived += 1
                return False
        return not self._answeredPing(element)

    def _answeredPing(self, element):
        if not self.answerPings or element.tag != q(NS_CLIENT, "iq"):
            return False
        if element.get("type") != "get":
            return False
        if element.find(q(NS_PING, "ping")) is None and \
                not element.get("id", "").startswith(ACK_PROBE_PREFIX):
            return False
        if self.sentClose:
            return True
        self.sendRaw("<iq type='result' id='%s' to='%s'/>" % (
            element.get("id"), element.get("from", "")))
        self.pingsAnswered += 1
        self.unacknowledged.clear()
        return True

    async def expect(self, timeout=TIMEOUT):
        """The next top-level element of the server's stream, within ``timeout`` seconds."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not self.queue:
            if self.streamEnded:
                raise StreamClosed("stream ended")
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise asyncio.TimeoutError()
            await self._fill(left)
        return self.queue.pop(0)

    async def expectHeader(self, timeout=TIMEOUT):
        while self.header is None:
            await self._fill(timeout)
        return self.header

    async def expectClosed(self, timeout=TIMEOUT):
        """Wait until the server closes the TCP connection."""
        try:
            while True:
                await self._fill(timeout)
        except StreamClosed:
            return True

    async def expectStreamError(self, condition, timeout=TIMEOUT):
        element = await self.expect(timeout)
        assert element.tag == q(NS_STREAMS, "error"), ET.tostring(element)
        conditions = [c.tag for c in element if c.tag != q(NS_STREAM_ERRORS, "text")]
        assert conditions == [q(NS_STREAM_ERRORS, condition)], ET.tostring(element)
        await self.expectClosed(timeout)
        return element

    # Stream negotiation --------------------------------------------------------

    async def open(self, domain="localhost", extra=""):
        self.domain = domain
        self._reset()
        self.sendRaw("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                     "xmlns:stream='%s' to='%s' version='1.0'%s>" % (NS_STREAMS, domain, extra))
        await self.expectHeader()
        features = await self.expect()
        assert features.tag == q(NS_STREAMS, "features"), ET.tostring(features)
        self.features = features
        return features

    def mechanisms(self):
        mechs = self.features.find(q(NS_SASL, "mechanisms"))
        return [] if mechs is None else [m.text for m in mechs]

    async def starttls(self, alpn=None):
        self.sendRaw("<starttls xmlns='%s'/>" % NS_TLS)
        proceed = await self.expect()
        assert proceed.tag == q(NS_TLS, "proceed"), ET.tostring(proceed)
        await self.writer.start_tls(tlsContext(alpn), server_hostname=self.domain)
        return await self.open(self.domain)

    async def authenticate(self, username, password, mechanism="SCRAM-SHA-256"):
        """Run SASL; return the final element (success or failure)."""
        if mechanism == "PLAIN":
            payload = base64.b64encode(("\0%s\0%s" % (username, password)).encode()).decode()
            self.sendRaw("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (NS_SASL, payload))
            return await self.expect()
        hashName = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-1": "sha1"}[mechanism]
        scram = ScramClient(hashName, username, password)
        self.sendRaw("<auth xmlns='%s' mechanism='%s'>%s</auth>" % (
            NS_SASL, mechanism, base64.b64encode(scram.first()).decode()))
        challenge = await self.expect()
        if challenge.tag != q(NS_SASL, "challenge"):
            return challenge
        final = scram.final(base64.b64decode(challenge.text))
        self.sendRaw("<response xmlns='%s'>%s</response>" % (
            NS_SASL, base64.b64encode(final).decode()))
        result = await self.expect()
        if result.tag == q(NS_SASL, "success"):
            assert scram.verifyServer(base64.b64decode(result.text or "")), "bad server signature"
        return result

    async def bind(self, resource=None):
        inner = "<resource>%s</resource>" % resource if resource else ""
        self.sendRaw("<iq type='set' id='bind1'><bind xmlns='%s'>%s</bind></iq>" % (NS_BIND, inner))
        reply = await self.expect()
        assert reply.get("type") == "result", ET.tostring(reply)
        self.jid = reply.find(q(NS_BIND, "bind")).find(q(NS_BIND, "jid")).text
        return self.jid

    def bestMechanism(self):
        offered = self.mechanisms()
        return next((m for m in ("SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN") if m in offered),
                    "SCRAM-SHA-256")

    async def authenticated(self, username, password, domain="localhost"):
        """STARTTLS, SASL with the best mechanism offered, and the restarted stream's features."""
        await self.open(domain)
        await self.starttls()
        result = await self.authenticate(username, password, self.bestMechanism())
        assert result.tag == q(NS_SASL, "success"), ET.tostring(result)
        return await self.open(domain)

    async def login(self, username, password, resource=None, domain="localhost"):
        await self.authenticated(username, password, domain)
        return await self.bind(resource)

    # Stanzas ---------------------------------------------------------------------

    async def roundTrip(self, timeout=TIMEOUT):
        """
        Ping the server and return every element received before the pong:
        an empty list proves that nothing else was sent to this client so
        far. Work the server still does for the account (a presence
        broadcast waiting on the roster, an offline delivery) can send
        later: ``RunningServer.accountWorkDone`` says when it is over.
        """
        pingId = "rt-" + uuid.uuid4().hex[:8]
        self.sendRaw("<iq type='get' id='%s' to='%s'><ping xmlns='urn:xmpp:ping'/></iq>"
                     % (pingId, self.domain))
        before = []
        while True:
            element = await self.expect(timeout)
            if element.tag == q(NS_CLIENT, "iq") and element.get("id") == pingId:
                return before
            before.append(element)

    async def close(self):
        try:
            self.sendRaw("</stream:stream>")
            await self.writer.drain()
        except (ConnectionError, RuntimeError):
            pass
        self.writer.close()

    async def closeStream(self, timeout=TIMEOUT):
        """
        Send ``</stream:stream>`` and read until the server's stream ends,
        keeping the TCP connection (and TLS) open: the window in which the
        server has read the close and the client has not hung up yet.
        Return the elements that arrived meanwhile.
        """
        self.sendRaw("</stream:stream>")
        received = []
        try:
            while True:
                received.append(await self.expect(timeout))
        except StreamClosed:
            return received

    def abort(self):
        """Cut the TCP connection without closing the stream."""
        self._stopReading()
        self.writer.transport.abort()

    def _stopReading(self):
        if self._pump is not None and not self._pump.done():
            self._pump.cancel()
            self._pumpError = StreamClosed("connection cut by the client")

    def reset(self):
        """
        Cut the connection with a TCP RST (SO_LINGER 0, then close), as a
        phone losing its network looks to a server whose next write fails:
        no stream close, no TLS close_notify, no FIN.
        """
        sock = self.writer.get_extra_info("socket")
        if sock is not None and sock.fileno() >= 0:
            # None once the connection is gone already: nothing left to reset.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._stopReading()
        self.writer.transport.abort()

    def pauseReading(self):
        """Stop reading the socket: the server's writes pile up in the kernel buffers."""
        self.writer.transport.pause_reading()
        if self._pump is not None:
            self._readable.clear()

    def resumeReading(self):
        self.writer.transport.resume_reading()
        if self._pump is not None:
            self._readable.set()

    def pauseAfterMessages(self, count):
        """``pauseReading`` as soon as ``count`` messages have been parsed on this connection."""
        self._pauseAt = count

    # Stream management (XEP-0198) -------------------------------------------------

    def offersSM(self):
        return self.features.find(q(NS_SM, "sm")) is not None

    async def enableSM(self, resume=True):
        """Send ``<enable/>``; return ``<enabled/>`` or ``<failed/>``."""
        self.sm = StreamManagement(resume)
        self.sm.startCountingOutbound()
        self.sendRaw("<enable xmlns='%s'%s/>" % (NS_SM, " resume='true'" if resume else ""))
        reply = await self._expectSM()
        if reply.tag == q(NS_SM, "enabled"):
            self.sm.id = reply.get("id")
            self.sm.location = reply.get("location")
            self.sm.resume = reply.get("resume") in ("true", "1")
        return reply

    async def resumeSM(self, previous):
        """
        On a freshly authenticated stream, resume the session ``previous``
        (another connection's ``StreamManagement``) instead of binding:
        ``<resume h previd/>``; return ``<resumed/>`` or ``<failed/>``. On
        success the counts go on where the old connection left them.
        """
        self.sm = previous
        previous.active = False
        previous.acked = previous.inbound
        self.sendRaw("<resume xmlns='%s' h='%d' previd='%s'/>" % (NS_SM, previous.inbound, previous.id))
        reply = await self._expectSM()
        if reply.tag == q(NS_SM, "resumed"):
            previous.serverH = int(reply.get("h"))
            previous.startCountingOutbound()
        else:
            self.sm = None
        return reply

    async def _expectSM(self):
        while True:
            element = await self.expect()
            if element.tag.startswith("{%s}" % NS_SM):
                return element
            raise AssertionError("expected an XEP-0198 answer, got %s" % ET.tostring(element))

    def sendAck(self):
        """``<a h/>`` for every stanza received so far."""
        self.sm.acked = self.sm.inbound
        self.sendRaw("<a xmlns='%s' h='%d'/>" % (NS_SM, self.sm.inbound))

    async def requestAck(self, timeout=TIMEOUT):
        """
        Send ``<r/>`` and wait for the server's ``<a h/>``; return its h.
        Stanzas arriving meanwhile stay queued for ``expect``.
        """
        before = self.sm.acksReceived
        self.sendRaw("<r xmlns='%s'/>" % NS_SM)
        while self.sm.acksReceived == before:
            await self._fill(timeout)
        return self.sm.serverH

    async def syncAck(self, timeout=TIMEOUT):
        """
        Acknowledge everything received and wait until the server has read
        that ack (its answer to the ``<r/>`` that follows it).
        """
        self.sendAck()
        return await self.requestAck(timeout)


def tlsContext(alpn=None):
    """A client context that trusts any certificate and offers ``alpn`` if given."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if alpn:
        context.set_alpn_protocols(list(alpn))
    return context


def stanzaErrorCondition(element):
    error = element.find(q(NS_CLIENT, "error"))
    assert error is not None, ET.tostring(element)
    for child in error:
        if child.tag.startswith("{%s}" % NS_STANZAS) and not child.tag.endswith("}text"):
            return error.get("type"), child.tag.split("}")[1]
    raise AssertionError("no condition in %s" % ET.tostring(element))


class ScramClient:
    """
    The client side of SCRAM; ``gs2header`` ("p=tls-exporter,," for a -PLUS
    mechanism) and ``bindingData`` (the channel binding's bytes) bind it to
    the TLS connection (RFC 5802 §6).
    """

    def __init__(self, hashName, username, password, gs2header="n,,", bindingData=b""):
        self.hashName = hashName
        self.digest = getattr(hashlib, hashName)
        self.username = username
        self.password = password
        self.nonce = base64.b64encode(os.urandom(18)).decode()
        self.gs2header = gs2header
        self.bindingData = bindingData

    def first(self):
        self.firstBare = "n=%s,r=%s" % (self.username, self.nonce)
        return (self.gs2header + self.firstBare).encode()

    def final(self, serverFirst):
        self.serverFirst = serverFirst.decode()
        attrs = dict(part.split("=", 1) for part in self.serverFirst.split(","))
        salt = base64.b64decode(attrs["s"])
        salted = hashlib.pbkdf2_hmac(self.hashName, self.password.encode(), salt, int(attrs["i"]))
        clientKey = hmac.new(salted, b"Client Key", self.digest).digest()
        storedKey = self.digest(clientKey).digest()
        binding = base64.b64encode(self.gs2header.encode() + self.bindingData).decode()
        withoutProof = "c=%s,r=%s" % (binding, attrs["r"])
        self.authMessage = ",".join((self.firstBare, self.serverFirst, withoutProof)).encode()
        signature = hmac.new(storedKey, self.authMessage, self.digest).digest()
        proof = bytes(a ^ b for a, b in zip(clientKey, signature))
        self.serverKey = hmac.new(salted, b"Server Key", self.digest).digest()
        return (withoutProof + ",p=" + base64.b64encode(proof).decode()).encode()

    def verifyServer(self, serverFinal):
        expected = hmac.new(self.serverKey, self.authMessage, self.digest).digest()
        return serverFinal.decode() == "v=" + base64.b64encode(expected).decode()
