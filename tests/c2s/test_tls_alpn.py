"""
ALPN (RFC 7301, XEP-0368) on both c2s listeners, through real TCP and TLS.

A client may offer ALPN or not, and may offer protocols the server does not
speak (a Go client offers whatever its author configured). The server
selects ``xmpp-client`` when offered and otherwise completes the handshake
without ALPN; a client that can log in afterwards proves the handshake was
not aborted.
"""

import pytest

from tests.aio import asyncioTest
from tests.rawclient import NS_SASL, RawClient, q

OFFERS = {
    "no-alpn": (None, None),
    "xmpp-client": ([b"xmpp-client"], "xmpp-client"),
    "h2-only": ([b"h2"], None),
    "h2-then-xmpp-client": ([b"h2", b"xmpp-client"], "xmpp-client"),
}


async def connectWithALPN(xmpp, transport, alpn):
    """Alice's client reaches TLS over ``transport``, offering ``alpn``."""
    offer = [p.decode() for p in alpn] if alpn else None
    if transport == "starttls":
        alice = await RawClient.connect(xmpp.port)
        await alice.open()
        await alice.starttls(alpn=offer)
    else:
        alice = await RawClient.connectDirectTLS(xmpp.directTLSPort, alpn=offer)
        await alice.open()
    return alice


@pytest.mark.parametrize("transport", ["starttls", "direct-tls"])
@pytest.mark.parametrize("offer", list(OFFERS))
@asyncioTest
async def test_tls_handshake_completes_and_selects_xmpp_client_only_when_offered(
        xmpp, transport, offer):
    alpn, selected = OFFERS[offer]
    alice = await connectWithALPN(xmpp, transport, alpn)
    try:
        assert alice.alpnSelected() == selected
        result = await alice.authenticate("alice", "secret-alice")
        assert result.tag == q(NS_SASL, "success")
        await alice.open()
        assert await alice.bind("laptop") == "alice@localhost/laptop"
    finally:
        await alice.close()


def test_s2s_context_selects_xmpp_server_and_not_xmpp_client(tmp_path):
    from xmppd.tls import ALPN_S2S, ensureCertificate, serverContextFactory

    context = serverContextFactory(
        *ensureCertificate("", "", str(tmp_path), ["localhost"]), alpn=ALPN_S2S)
    assert context.selectProtocol(None, [b"xmpp-client", b"xmpp-server"]) == b"xmpp-server"
    from OpenSSL import SSL
    assert context.selectProtocol(None, [b"xmpp-client"]) is SSL.NO_OVERLAPPING_PROTOCOLS
