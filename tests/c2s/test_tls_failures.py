"""
A failed TLS handshake leaves one log line: the peer and OpenSSL's reason.

Read from the server's log through a twisted.logger observer, as an operator
would read twistd's log: exactly one line per failure, no traceback.
"""

import asyncio
import socket
import ssl

from twisted.internet import threads
from twisted.logger import formatEvent, globalLogPublisher

from tests.aio import asyncioTest, wait
from tests.rawclient import NS_TLS, RawClient, q


class LogLines:
    """The server's log events while in use, as formatted lines."""

    def __init__(self):
        self.events = []
        self.waiting = []

    def __enter__(self):
        globalLogPublisher.addObserver(self.observe)
        return self

    def __exit__(self, *exc):
        globalLogPublisher.removeObserver(self.observe)

    def observe(self, event):
        self.events.append(event)
        line = formatEvent(event) or ""
        for text, future in list(self.waiting):
            if text in line and not future.done():
                future.set_result(line)

    def matching(self, text):
        return [formatEvent(e) for e in self.events if text in (formatEvent(e) or "")]

    def failures(self):
        return [e for e in self.events if e.get("log_failure") is not None]

    async def logged(self, text, timeout=10):
        """Every line with ``text``, once the server has logged the first."""
        if not self.matching(text):
            future = asyncio.get_event_loop().create_future()
            self.waiting.append((text, future))
            await asyncio.wait_for(future, timeout)
        return self.matching(text)


@asyncioTest
async def test_client_that_hangs_up_on_the_certificate_is_logged_once_with_its_address(xmpp):
    with LogLines() as lines:
        mallory = await RawClient.connect(xmpp.port)
        await mallory.open()
        mallory.sendRaw("<starttls xmlns='%s'/>" % NS_TLS)
        assert (await mallory.expect()).tag == q(NS_TLS, "proceed")
        localPort = mallory.writer.get_extra_info("sockname")[1]
        # A client that checks certificates: it does not trust a self-signed one.
        strict = ssl.create_default_context()
        try:
            await mallory.writer.start_tls(strict, server_hostname="localhost")
        except ssl.SSLError as e:
            assert "CERTIFICATE_VERIFY_FAILED" in str(e)
        else:
            raise AssertionError("the client accepted a self-signed certificate")
        logged = await lines.logged("TLS handshake with 127.0.0.1:%d" % localPort)
    assert len(logged) == 1
    assert logged[0].startswith("TLS handshake with 127.0.0.1:%d failed: " % localPort)
    assert logged[0].endswith("the peer closed the connection during the handshake")
    assert "\n" not in logged[0]
    assert lines.failures() == []


def verifyingHandshake(port):
    """A blocking client that checks the certificate, refuses it, and says so by alert."""
    strict = ssl.create_default_context()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        localPort = raw.getsockname()[1]
        try:
            strict.wrap_socket(raw, server_hostname="localhost")
        except ssl.SSLCertVerificationError:
            return localPort
    raise AssertionError("the client accepted a self-signed certificate")


@asyncioTest
async def test_client_alert_on_the_certificate_is_logged_once_with_openssl_reason(xmpp):
    with LogLines() as lines:
        localPort = await wait(threads.deferToThread(verifyingHandshake, xmpp.directTLSPort))
        logged = await lines.logged("TLS handshake with 127.0.0.1:%d" % localPort)
    assert len(logged) == 1, logged
    assert logged[0].startswith("TLS handshake with 127.0.0.1:%d failed: " % localPort)
    assert "alert" in logged[0] and ("unknown ca" in logged[0] or "bad certificate" in logged[0]), \
        logged[0]
    assert lines.failures() == []


@asyncioTest
async def test_plain_xml_on_the_direct_tls_port_is_logged_once_with_address_and_reason(xmpp):
    with LogLines() as lines:
        reader, writer = await asyncio.open_connection("127.0.0.1", xmpp.directTLSPort)
        localPort = writer.get_extra_info("sockname")[1]
        writer.write(b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                     b"xmlns:stream='http://etherx.jabber.org/streams' to='localhost' "
                     b"version='1.0'>")
        # The server logs before it closes the connection.
        assert await reader.read() == b""
        logged = lines.matching("TLS handshake with 127.0.0.1:%d" % localPort)
        writer.close()
    assert len(logged) == 1, logged
    assert logged[0].startswith("TLS handshake with 127.0.0.1:%d failed: " % localPort)
    reason = logged[0].split("failed: ", 1)[1]
    assert "wrong version number" in reason or "record" in reason, reason
    assert lines.failures() == []
