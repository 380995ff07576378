"""
TLS session resumption for clients that offer it (RFC 8446 §2.2): a client
that kept the session of its last STARTTLS resumes it on the next one and
is spared the full handshake; one that did not gets a full handshake as
before. Clients here are Python's ssl over blocking sockets, in a thread.
A session is resumable once its connection was closed cleanly (the server's
close_notify), as a stream close does.
"""

import asyncio
import socket
import ssl

import pytest

from tests.aio import asyncioTest

HEADER = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client'"
          " xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>")


def readUntil(sock, token):
    data = b""
    while token not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError(data)
        data += chunk
    return data


def clientContext(maximum):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.maximum_version = maximum
    return context


def startTLS(port, context, session=None):
    """STARTTLS and the encrypted stream's features; the TLS socket."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    raw.sendall(HEADER.encode())
    readUntil(raw, b"</stream:features>")
    raw.sendall(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    readUntil(raw, b"<proceed")
    tls = context.wrap_socket(raw, server_hostname="localhost", session=session)
    tls.sendall(HEADER.encode())
    # Reading the features also reads the TLS 1.3 ticket sent after the handshake.
    readUntil(tls, b"</stream:features>")
    return tls


def closeStream(tls):
    """Close the stream as a client does; the server ends the TLS, then the TCP."""
    tls.sendall(b"</stream:stream>")
    readUntil(tls, b"</stream:stream>")
    tls.close()


def resumeOnce(port, maximum):
    context = clientContext(maximum)
    first = startTLS(port, context)
    session, firstResumed, version = first.session, first.session_reused, first.version()
    closeStream(first)
    second = startTLS(port, context, session)
    resumed = second.session_reused
    closeStream(second)
    fresh = startTLS(port, context)
    freshResumed = fresh.session_reused
    closeStream(fresh)
    return version, firstResumed, resumed, freshResumed


@pytest.mark.parametrize("maximum, version", [
    (ssl.TLSVersion.TLSv1_3, "TLSv1.3"), (ssl.TLSVersion.TLSv1_2, "TLSv1.2")])
@asyncioTest
async def test_a_client_that_kept_its_session_resumes_it_and_others_get_a_full_handshake(
        xmpp, maximum, version):
    negotiated, first, resumed, fresh = await asyncio.to_thread(resumeOnce, xmpp.port, maximum)
    assert negotiated == version
    assert (first, resumed, fresh) == (False, True, False)
