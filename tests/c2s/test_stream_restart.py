"""
Stream restarts (RFC 6120 §5.4.3.3, §6.4.6): whatever a client sends after
``<starttls/>`` or its last SASL message, before the new stream header, is
never executed (the CVE-2011-0411 class of command injection).
"""

import base64
import ssl
import xml.etree.ElementTree as ET

from tests.aio import asyncioTest, wait
from tests.c2s.hostile import (
    STARTTLS, assertServesAnotherClient, hostileServer, plainAuth, readUntilClosed)
from tests.rawclient import (
    NS_BIND, NS_SASL, NS_STREAM_ERRORS, NS_STREAMS, NS_TLS, RawClient, ScramClient, q)

async def finishStartTLS(client):
    """Read <proceed/>, handshake, open the new stream; its features."""
    assert (await client.expect()).tag == q(NS_TLS, "proceed")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    await client.writer.start_tls(context, server_hostname="localhost")
    return await client.open()


REGISTER = ("<iq type='set' id='reg'><query xmlns='jabber:iq:register'>"
            "<username>mallory</username><password>pw</password></query></iq>")


@asyncioTest
async def test_plain_auth_pipelined_with_starttls_is_not_executed(make_database, tmp_path):
    server = await hostileServer(make_database, tmp_path)
    try:
        mallory = await RawClient.connect(server.port)
        await mallory.open()
        mallory.sendRaw(STARTTLS + plainAuth("alice", "secret-alice"))
        # The plaintext after <starttls/> is discarded: the stream after the
        # handshake is not authenticated, it offers SASL again.
        features = await finishStartTLS(mallory)
        assert features.find(q(NS_SASL, "mechanisms")) is not None
        assert features.find(q(NS_BIND, "bind")) is None
        mallory.sendRaw("<iq type='set' id='bind1'><bind xmlns='%s'/></iq>" % NS_BIND)
        await mallory.expectStreamError("not-authorized")
        await assertServesAnotherClient(server)
    finally:
        await wait(server.stop())


@asyncioTest
async def test_registration_pipelined_with_starttls_creates_no_account(make_database, tmp_path):
    server = await hostileServer(make_database, tmp_path, config={
        "modules": {"register": {"enabled": True, "min_seconds_between_registrations": "0s"}}})
    try:
        mallory = await RawClient.connect(server.port)
        await mallory.open()
        mallory.sendRaw(STARTTLS + REGISTER)
        features = await finishStartTLS(mallory)
        assert features.find(q(NS_SASL, "mechanisms")) is not None
        assert not await wait(server.storage.users.exists("mallory@localhost"))
        await assertServesAnotherClient(server)
    finally:
        await wait(server.stop())


@asyncioTest
async def test_bind_pipelined_with_the_last_sasl_response_is_a_stream_error(
        make_database, tmp_path):
    server = await hostileServer(make_database, tmp_path)
    try:
        alice = await RawClient.connect(server.port)
        await alice.open()
        await alice.starttls()
        scram = ScramClient("sha256", "alice", "secret-alice")
        alice.sendRaw("<auth xmlns='%s' mechanism='SCRAM-SHA-256'>%s</auth>" % (
            NS_SASL, base64.b64encode(scram.first()).decode()))
        challenge = await alice.expect()
        final = scram.final(base64.b64decode(challenge.text))
        alice.sendRaw("<response xmlns='%s'>%s</response>" % (
            NS_SASL, base64.b64encode(final).decode())
            + "<iq type='set' id='bind1'><bind xmlns='%s'/></iq>" % NS_BIND)
        data = await readUntilClosed(alice)
        success, header, rest = data.partition(b"<stream:stream")
        rest = header + rest
        assert ET.fromstring(success).tag == q(NS_SASL, "success")
        # A new stream carrying only the error: the bind never ran.
        stream = ET.fromstring(rest)
        assert stream.tag == q(NS_STREAMS, "stream")
        [streamError] = list(stream)
        assert streamError.tag == q(NS_STREAMS, "error")
        assert streamError[0].tag == q(NS_STREAM_ERRORS, "policy-violation")
        assert not server.server.sessions.resources("alice@localhost")
        await assertServesAnotherClient(server)
    finally:
        await wait(server.stop())


@asyncioTest
async def test_whitespace_pipelined_with_starttls_is_harmless(make_database, tmp_path):
    server = await hostileServer(make_database, tmp_path)
    try:
        alice = await RawClient.connect(server.port)
        await alice.open()
        alice.sendRaw(STARTTLS + "\n  ")
        await finishStartTLS(alice)
        assert (await alice.authenticate("alice", "secret-alice")).tag == q(NS_SASL, "success")
    finally:
        await wait(server.stop())
