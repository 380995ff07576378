"""
What an s2s stream must prove before it carries stanzas: TLS when it is
required, a domain proved by certificate or (when allowed) by dialback,
and on every stanza a ``from`` of the domain it authenticated.
"""

import asyncio

from tests.aio import asyncioTest
from tests.offline.transcript import assertBounce, body, expectMessages, send
from tests.rawclient import NS_STREAMS, q
from tests.s2s.federation import freePort
from tests.s2s.rawpeer import NS_SASL, NS_TLS, FakeServer, RawS2SPeer
from tests.s2s.test_federation import online


@asyncioTest
async def test_spoofed_from_domain_on_an_s2s_stream_is_closed_with_invalid_from(
        federate, test_ca):
    a, b = await federate()
    bob = await online(b, "bob")
    # mallory holds a.test's certificate and authenticates as a.test...
    peer = await RawS2SPeer.connect(b.s2sPort)
    features = await peer.openStream("a.test", "b.test")
    assert features.find(q(NS_TLS, "starttls")).find(q(NS_TLS, "required")) is not None
    features = await peer.starttls(test_ca.issue("a.test"))
    mechanisms = [m.text for m in features.find(q(NS_SASL, "mechanisms"))]
    assert mechanisms == ["EXTERNAL"]
    await peer.external()
    peer.sendRaw("<message from='alice@a.test/x' to='bob@b.test' id='ok'><body>real</body>"
                 "</message>")
    [received] = await expectMessages(bob, 1)
    assert (received.get("from"), body(received)) == ("alice@a.test/x", "real")

    # ...but then speaks for another domain.
    peer.sendRaw("<message from='boss@c.test' to='bob@b.test' id='spoof'><body>pay mallory"
                 "</body></message>")
    await peer.expectStreamError("invalid-from")
    assert await bob.roundTrip() == []


@asyncioTest
async def test_incoming_peer_that_skips_starttls_is_refused_with_policy_violation(federate):
    a, b = await federate()
    peer = await RawS2SPeer.connect(b.s2sPort)
    await peer.openStream("a.test", "b.test")
    peer.sendRaw("<db:result from='a.test' to='b.test'>0123456789abcdef</db:result>")
    error = await peer.expectStreamError("policy-violation")
    assert error.findtext("{urn:ietf:params:xml:ns:xmpp-streams}text") == "STARTTLS is required"


@asyncioTest
async def test_remote_server_that_offers_no_tls_is_refused_and_the_stanza_bounces(federate):
    fake = await FakeServer("<stream:features><dialback xmlns='urn:xmpp:features:dialback'/>"
                            "</stream:features>").start()
    try:
        a, b = await federate(a={"routes": {"c.test": "127.0.0.1:%d" % fake.port}})
        alice = await online(a, "alice")
        send(alice, "carol@c.test", "c1", "in the clear?")
        [bounce] = await expectMessages(alice, 1)
        assertBounce(bounce, "c1", "remote-server-not-found", sender="carol@c.test",
                     body="in the clear?")
        # a.test closed its stream without sending a key or a stanza.
        received = await asyncio.wait_for(fake.closed, 10)
        assert received.endswith(b"</stream:stream>"), received
        assert b"db:result" not in received and b"in the clear?" not in received
    finally:
        fake.stop()


@asyncioTest
async def test_dialback_is_accepted_when_certificates_are_not_required(federate, test_ca):
    # a.test's certificate is self-signed: it proves nothing to b.test.
    a, b = await federate(b={"require_certificate": False},
                          certificates={"a.test": test_ca.issue("a.test", selfSigned=True)})
    alice = await online(a, "alice")
    bob = await online(b, "bob")
    send(alice, "bob@b.test/r1", "db1", "by dialback")
    [received] = await expectMessages(bob, 1)
    assert (received.get("from"), body(received)) == ("alice@a.test/r1", "by dialback")
    assert a.logged(r"stream from a\.test to b\.test authenticated by dialback")
    assert b.logged(r"incoming stream from a\.test to b\.test authenticated by dialback")


@asyncioTest
async def test_dialback_only_peer_is_refused_when_certificates_are_required(federate, test_ca):
    a, b = await federate(certificates={"a.test": test_ca.issue("a.test", selfSigned=True)})
    alice = await online(a, "alice")
    bob = await online(b, "bob")
    send(alice, "bob@b.test/r1", "db2", "by dialback?")
    [bounce] = await expectMessages(alice, 1)
    assertBounce(bounce, "db2", "remote-server-not-found", sender="bob@b.test/r1")
    assert await bob.roundTrip() == []


@asyncioTest
async def test_unreachable_domain_bounces_remote_server_not_found(federate):
    a, b = await federate(a={"routes": {"c.test": "127.0.0.1:%d" % freePort()}})
    alice = await online(a, "alice")
    send(alice, "carol@c.test", "nf1", "hello?")
    [bounce] = await expectMessages(alice, 1)
    assertBounce(bounce, "nf1", "remote-server-not-found", sender="carol@c.test")


@asyncioTest
async def test_silent_domain_bounces_its_queue_in_order_after_the_timeout(federate):
    silent = await FakeServer(None).start()
    try:
        a, b = await federate(a={"routes": {"c.test": "127.0.0.1:%d" % silent.port},
                                 "connect_timeout": "1s", "max_queued_stanzas": 2})
        alice = await online(a, "alice")
        for n in (1, 2, 3):
            send(alice, "carol@c.test", "t%d" % n, "number %d" % n)
        # The third finds the queue full at once; the first two wait their second.
        first, second, third = await expectMessages(alice, 3)
        assertBounce(first, "t3", "resource-constraint", "wait", sender="carol@c.test",
                     text="too many stanzas waiting for c.test")
        assertBounce(second, "t1", "remote-server-timeout", "wait", body="number 1")
        assertBounce(third, "t2", "remote-server-timeout", "wait", body="number 2")
    finally:
        silent.stop()
