"""
A lean XMPP client for load: asyncio streams, STARTTLS, SCRAM, bind.

Negotiation parses with ElementTree's pull parser (expat, in C). TLS is
pyOpenSSL over memory BIOs (``_Connection``), not asyncio's ``start_tls``:
asyncio's TLS runs its state machine in Python per record, zeroes a 256 KiB
buffer per connection, and uses the system's OpenSSL 3.0, whose certificate
parsing and CA-directory lookups (made even without verification) cost the
client more than the server's whole handshake. The load generator was the
bottleneck of the login scenario; every server meets the same client. Once a
client is logged in, a load scenario usually only needs to count the
messages it receives: ``startCounting`` switches the stream to a byte scan
for ``<message`` so that thousands of connections in one process cost little
CPU beyond TLS. Every server measured (xmppd, Prosody, ejabberd) writes
stanzas in the default namespace, unprefixed, so the scan is exact for the
bodies these scenarios send (they never contain ``<``).
"""

import asyncio
import base64
import hashlib
import hmac
import os
import re
import ssl
import time
import xml.etree.ElementTree as ET

from cryptography.hazmat.primitives.asymmetric import ec
from OpenSSL import SSL

NS_STREAMS = "http://etherx.jabber.org/streams"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_REGISTER = "jabber:iq:register"
TIMEOUT = 60
MARK = b"<message"
# The server's XEP-0199 pings and xmppd's acknowledgement probes (a
# disco#info query): a real client answers both.
PING = re.compile(rb"<iq\b([^>]*)>\s*<(?:ping\s+xmlns=[\"']urn:xmpp:ping[\"']"
                  rb"|query\s+xmlns=[\"']http://jabber.org/protocol/disco#info[\"'])")
PING_ID = re.compile(rb"\bid=[\"']([^\"']+)[\"']")
PING_GET = re.compile(rb"\btype=[\"']get[\"']")

# The servers measured present self-signed certificates: no verification,
# and no CA store for OpenSSL to search on every handshake. The key
# exchange is P-256 alone, the group every TLS 1.3 implementation must
# support (RFC 8446 §9.1), so every server does the same one: the bundled
# OpenSSL would otherwise offer X25519MLKEM768 first, which only xmppd's
# OpenSSL takes, and which costs both sides more.
_TLS = SSL.Context(SSL.TLS_CLIENT_METHOD)
_TLS.set_min_proto_version(SSL.TLS1_2_VERSION)
_TLS.set_verify(SSL.VERIFY_NONE)
_TLS.set_tmp_ecdh(ec.SECP256R1())
_READ_SIZE = 1 << 18
# Past this much unread input a connection stops reading its socket, as
# asyncio's StreamReader does at twice its limit: a client that does not
# read (bench.hostile's self-flooder) backs up the server's output.
_UNREAD_LIMIT = 1 << 21

# A real client keeps the SCRAM SaltedPassword once derived (RFC 5802 §5.1),
# so repeated logins of one account cost the client no PBKDF2.
_saltedCache = {}


def q(ns, name):
    return "{%s}%s" % (ns, name)


class XMPPError(Exception):
    pass


class Client:
    def __init__(self, reader, writer, domain):
        self.reader = reader
        self.writer = writer
        self.domain = domain
        self.jid = None
        self.counted = 0
        self._target = None
        self._reached = None
        self.lastAt = None
        self._pump = None
        self._reset()

    @classmethod
    async def connect(cls, port, domain="localhost", host="127.0.0.1", sock=None):
        """A client on a new connection, or on ``sock``, connected already."""
        loop = asyncio.get_running_loop()
        if sock is None:
            _transport, connection = await loop.create_connection(_Connection, host, port)
        else:
            _transport, connection = await loop.create_connection(_Connection, sock=sock)
        return cls(connection, connection, domain)

    def _reset(self):
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0
        self.queue = []
        self.header = None

    def send(self, data):
        self.writer.write(data.encode() if isinstance(data, str) else data)

    async def _fill(self):
        if isinstance(self.reader, _Connection):
            # Its own timer, not wait_for's task per read.
            data = await self.reader.read(65536, TIMEOUT)
        else:
            data = await asyncio.wait_for(self.reader.read(65536), TIMEOUT)
        if not data:
            raise XMPPError("connection closed")
        self.parser.feed(data)
        for event, element in self.parser.read_events():
            if event == "start":
                self.depth += 1
                if self.depth == 1:
                    self.header = element
            else:
                self.depth -= 1
                if self.depth == 1:
                    self.queue.append(element)
                    # Only top-level elements are kept.
                    if self.header is not None:
                        self.header.clear()
                elif self.depth == 0:
                    raise XMPPError("stream closed by server")

    async def expect(self):
        while True:
            while not self.queue:
                await self._fill()
            element = self.queue.pop(0)
            if element.tag == q("jabber:client", "iq") and element.get("type") == "get" \
                    and (element.find(q("urn:xmpp:ping", "ping")) is not None
                         or element.get("id", "").startswith("xmppd-ack-")):
                self.send("<iq type='result' id='%s' to='%s'/>" % (
                    element.get("id"), self.domain))
                continue
            return element

    async def expectTag(self, *tags):
        element = await self.expect()
        if element.tag not in tags:
            raise XMPPError("expected %s, got %s" % (tags, ET.tostring(element)[:300]))
        return element

    async def open(self):
        self._reset()
        self.send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                  "xmlns:stream='%s' to='%s' version='1.0'>" % (NS_STREAMS, self.domain))
        while self.header is None:
            await self._fill()
        self.features = await self.expectTag(q(NS_STREAMS, "features"))
        return self.features

    async def starttls(self):
        self.send("<starttls xmlns='%s'/>" % NS_TLS)
        await self.expectTag(q(NS_TLS, "proceed"))
        await self.writer.start_tls(_TLS, server_hostname=self.domain)
        await self.open()

    def mechanisms(self):
        mechs = self.features.find(q(NS_SASL, "mechanisms"))
        return [] if mechs is None else [m.text for m in mechs]

    async def authenticate(self, username, password):
        offered = self.mechanisms()
        mech = next((m for m in ("SCRAM-SHA-256", "SCRAM-SHA-1") if m in offered), None)
        if mech is None:
            raise XMPPError("no SCRAM mechanism in %s" % offered)
        scram = _Scram({"SCRAM-SHA-256": "sha256", "SCRAM-SHA-1": "sha1"}[mech],
                       username, password)
        self.send("<auth xmlns='%s' mechanism='%s'>%s</auth>"
                  % (NS_SASL, mech, base64.b64encode(scram.first()).decode()))
        challenge = await self.expectTag(q(NS_SASL, "challenge"), q(NS_SASL, "failure"))
        if challenge.tag != q(NS_SASL, "challenge"):
            raise XMPPError("SASL failure for %s" % username)
        final = scram.final(base64.b64decode(challenge.text))
        self.send("<response xmlns='%s'>%s</response>"
                  % (NS_SASL, base64.b64encode(final).decode()))
        result = await self.expect()
        if result.tag != q(NS_SASL, "success"):
            raise XMPPError("SASL failure for %s: %s" % (username, ET.tostring(result)[:200]))

    async def bind(self, resource):
        self.send("<iq type='set' id='b1'><bind xmlns='%s'><resource>%s</resource></bind></iq>"
                  % (NS_BIND, resource))
        reply = await self.expect()
        if reply.get("type") != "result":
            raise XMPPError("bind failed: %s" % ET.tostring(reply)[:300])
        self.jid = reply.find(q(NS_BIND, "bind")).find(q(NS_BIND, "jid")).text
        if self.features.find(q("urn:ietf:params:xml:ns:xmpp-session", "session")) is not None:
            sess = self.features.find(q("urn:ietf:params:xml:ns:xmpp-session", "session"))
            if sess.find(q("urn:ietf:params:xml:ns:xmpp-session", "optional")) is None:
                self.send("<iq type='set' id='s1'><session "
                          "xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>")
                await self.expect()

    async def login(self, username, password, resource="bench", roster=True):
        await self.open()
        await self.starttls()
        await self.authenticate(username, password)
        await self.open()
        await self.bind(resource)
        if roster:
            self.send("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
            while True:
                element = await self.expect()
                if element.get("id") == "r1":
                    break

    async def ping(self, pid="p1"):
        """A round trip: everything sent before it has been processed."""
        self.send("<iq type='get' id='%s' to='%s'><ping xmlns='urn:xmpp:ping'/></iq>"
                  % (pid, self.domain))
        while True:
            element = await self.expect()
            if element.tag.endswith("}iq") and element.get("id") == pid:
                return

    async def register(self, username, password):
        """XEP-0077 in-band registration, over TLS, before authentication."""
        await self.open()
        await self.starttls()
        self.send("<iq type='set' id='reg1'><query xmlns='%s'><username>%s</username>"
                  "<password>%s</password></query></iq>" % (NS_REGISTER, username, password))
        while True:
            reply = await self.expect()
            if reply.get("id") == "reg1":
                break
        if reply.get("type") != "result":
            text = ET.tostring(reply).decode()
            if "conflict" not in text:
                raise XMPPError("registration of %s failed: %s" % (username, text[:300]))

    # Counting mode --------------------------------------------------------------

    def startCounting(self, target=None):
        """From now on only count ``<message`` in what arrives, in a task."""
        self.counted = 0
        self._target = target
        self._reached = asyncio.get_running_loop().create_future()
        self._pump = asyncio.ensure_future(self._count())

    def _answerPings(self, data):
        """
        Answer the server's XEP-0199 pings in raw input, as a real client
        would: xmppd deletes a delivered offline batch only on that answer.
        Returns the unscanned tail, where a ping may be cut in two.
        """
        buf = self._pingCarry + data
        end = 0
        for match in PING.finditer(buf):
            attrs = match.group(1)
            pid = PING_ID.search(attrs)
            if pid is not None and PING_GET.search(attrs):
                self.send(b"<iq type='result' id='%s' to='%s'/>" % (
                    pid.group(1), self.domain.encode()))
            end = match.end()
        self._pingCarry = buf[max(end, len(buf) - 512):]

    async def _count(self):
        tail = b""
        self._pingCarry = b""
        try:
            while True:
                data = await self.reader.read(1 << 18)
                if not data:
                    break
                chunk = tail + data
                self._answerPings(data)
                n = chunk.count(MARK)
                if n:
                    self.counted += n
                    self.lastAt = time.perf_counter()
                    if self._target is not None and self.counted >= self._target \
                            and not self._reached.done():
                        self._reached.set_result(self.lastAt)
                tail = data[-(len(MARK) - 1):]
        except (ConnectionError, asyncio.CancelledError, ssl.SSLError, SSL.Error):
            pass
        finally:
            if not self._reached.done():
                if self._target is None:
                    self._reached.set_result(self.lastAt)
                else:
                    self._reached.set_exception(XMPPError(
                        "stream ended after %d messages" % self.counted))

    async def reached(self, timeout):
        return await asyncio.wait_for(asyncio.shield(self._reached), timeout)

    async def close(self):
        try:
            self.send("</stream:stream>")
            await asyncio.wait_for(self.writer.drain(), 5)
        except (ConnectionError, RuntimeError, asyncio.TimeoutError, ssl.SSLError, SSL.Error):
            pass
        if self._pump is not None:
            self._pump.cancel()
        self.writer.transport.abort()


def _expire(waiter):
    if not waiter.done():
        waiter.set_exception(asyncio.TimeoutError())


class _Connection(asyncio.Protocol):
    """
    One TCP connection, TLS after ``start_tls``: the part of asyncio's
    StreamReader and StreamWriter that Client uses (``read``, ``write``,
    ``drain``, ``start_tls``, ``transport``), with pyOpenSSL's memory BIOs
    for TLS (see the module docstring).
    """

    def __init__(self):
        self.transport = None
        self._received = bytearray()
        self._readWaiter = None
        self._closed = None           # None while open, else the exception or True
        self._tls = None
        self._handshake = None
        self._writable = None
        self._readingPaused = False

    # asyncio.Protocol

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        tls = self._tls
        if tls is None:
            self._deliver(data)
            return
        tls.bio_write(data)
        if self._handshake is not None:
            try:
                tls.do_handshake()
            except SSL.WantReadError:
                self._flushTLS()
                return
            except SSL.Error as e:
                self._fail(e)
                return
            self._flushTLS()
            handshake, self._handshake = self._handshake, None
            handshake.set_result(None)
        chunks = []
        while True:
            try:
                chunks.append(tls.recv(_READ_SIZE))
            except SSL.WantReadError:
                break
            except SSL.ZeroReturnError:
                self._closed = True
                break
            except SSL.Error as e:
                self._closed = e
                break
        self._flushTLS()
        self._deliver(b"".join(chunks))

    def eof_received(self):
        self._lost(True)

    def connection_lost(self, exc):
        self._lost(exc or True)

    def pause_writing(self):
        self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self):
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    # What Client reads and writes

    async def read(self, size, timeout=None):
        """Up to ``size`` bytes; b"" at the end; TimeoutError after ``timeout`` seconds."""
        while not self._received:
            if self._closed is not None:
                if isinstance(self._closed, BaseException):
                    raise ConnectionError(str(self._closed))
                return b""
            loop = asyncio.get_running_loop()
            waiter = self._readWaiter = loop.create_future()
            timer = None if timeout is None else loop.call_later(timeout, _expire, waiter)
            try:
                await waiter
            finally:
                self._readWaiter = None
                if timer is not None:
                    timer.cancel()
        data = bytes(self._received[:size])
        del self._received[:size]
        if self._readingPaused and len(self._received) < _UNREAD_LIMIT:
            self._readingPaused = False
            self.transport.resume_reading()
        return data

    def write(self, data):
        if self._tls is None:
            self.transport.write(data)
        else:
            self._tls.sendall(data)
            self._flushTLS()

    async def drain(self):
        # As asyncio's StreamWriter: writing to a lost connection is an error.
        if self.transport.is_closing():
            raise ConnectionResetError("connection lost")
        if self._writable is not None:
            await self._writable
            if self.transport.is_closing():
                raise ConnectionResetError("connection lost")

    async def start_tls(self, context, server_hostname=None):
        tls = self._tls = SSL.Connection(context, None)
        tls.set_connect_state()
        if server_hostname:
            tls.set_tlsext_host_name(server_hostname.encode())
        self._handshake = asyncio.get_running_loop().create_future()
        try:
            tls.do_handshake()
        except SSL.WantReadError:
            pass
        self._flushTLS()
        await self._handshake

    # Inside

    def _flushTLS(self):
        tls = self._tls
        out = []
        while True:
            try:
                out.append(tls.bio_read(_READ_SIZE))
            except SSL.WantReadError:
                break
        if out and not self.transport.is_closing():
            self.transport.write(b"".join(out))

    def _deliver(self, data):
        if data:
            self._received += data
            if len(self._received) > _UNREAD_LIMIT and not self._readingPaused \
                    and self._closed is None:
                self._readingPaused = True
                self.transport.pause_reading()
        if self._readWaiter is not None and not self._readWaiter.done() \
                and (self._received or self._closed is not None):
            self._readWaiter.set_result(None)

    def _fail(self, error):
        self._lost(error)
        self.transport.abort()

    def _lost(self, reason):
        if self._closed is None:
            self._closed = reason
        handshake, self._handshake = self._handshake, None
        if handshake is not None and not handshake.done():
            handshake.set_exception(ConnectionError("TLS handshake failed: %s" % (reason,)))
        self.resume_writing()
        self._deliver(b"")


class _Scram:
    def __init__(self, hashName, username, password):
        self.hashName = hashName
        self.digest = getattr(hashlib, hashName)
        self.username = username
        self.password = password
        self.nonce = base64.b64encode(os.urandom(18)).decode()

    def first(self):
        self.firstBare = "n=%s,r=%s" % (self.username, self.nonce)
        return ("n,," + self.firstBare).encode()

    def final(self, serverFirst):
        self.serverFirst = serverFirst.decode()
        attrs = dict(part.split("=", 1) for part in self.serverFirst.split(","))
        key = (self.hashName, self.password, attrs["s"], attrs["i"])
        salted = _saltedCache.get(key)
        if salted is None:
            salted = _saltedCache[key] = hashlib.pbkdf2_hmac(
                self.hashName, self.password.encode(), base64.b64decode(attrs["s"]),
                int(attrs["i"]))
        clientKey = hmac.new(salted, b"Client Key", self.digest).digest()
        storedKey = self.digest(clientKey).digest()
        withoutProof = "c=biws,r=%s" % attrs["r"]
        authMessage = ",".join((self.firstBare, self.serverFirst, withoutProof)).encode()
        signature = hmac.new(storedKey, authMessage, self.digest).digest()
        proof = bytes(a ^ b for a, b in zip(clientKey, signature))
        return (withoutProof + ",p=" + base64.b64encode(proof).decode()).encode()
