"""Connecting, encrypting, authenticating and binding (RFC 6120 §5–§7)."""

from tests.aio import asyncioTest
from tests.rawclient import NS_CLIENT, NS_SASL, NS_TLS, RawClient, q


@asyncioTest
async def test_scram_sha256_login_over_starttls_and_chat(xmpp):
    alice = await RawClient.connect(xmpp.port)
    features = await alice.open()
    assert features.find(q(NS_TLS, "starttls")).find(q(NS_TLS, "required")) is not None
    assert alice.mechanisms() == []
    await alice.starttls()
    assert alice.mechanisms() == ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS",
                                  "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]
    result = await alice.authenticate("alice", "secret-alice")
    assert result.tag == q(NS_SASL, "success")
    await alice.open()
    assert await alice.bind("laptop") == "alice@localhost/laptop"

    bob = await RawClient.connect(xmpp.port)
    await bob.login("bob", "secret-bob", "phone")
    for client in (alice, bob):
        client.sendRaw("<presence/>")
        reflected = await client.expect()
        assert reflected.tag == q(NS_CLIENT, "presence")

    alice.sendRaw("<message to='bob@localhost' type='chat' id='m1'><body>hi bob</body></message>")
    received = await bob.expect()
    assert received.tag == q(NS_CLIENT, "message")
    assert received.get("from") == "alice@localhost/laptop"
    assert received.findtext(q(NS_CLIENT, "body")) == "hi bob"
    await alice.close()
    await bob.close()


@asyncioTest
async def test_each_stream_of_a_login_gets_its_own_random_id(xmpp):
    alice = await RawClient.connect(xmpp.port)
    ids = []
    await alice.open()
    ids.append(alice.header.get("id"))
    await alice.starttls()
    ids.append(alice.header.get("id"))
    result = await alice.authenticate("alice", "secret-alice")
    assert result.tag == q(NS_SASL, "success")
    await alice.open()
    ids.append(alice.header.get("id"))
    header = alice.header
    # RFC 6120 §4.7.3: unique and unpredictable; 64 random bits in hex.
    assert len(set(ids)) == 3, ids
    assert all(len(sid) == 16 and int(sid, 16) >= 0 for sid in ids), ids
    assert header.get("from") == "localhost"
    assert header.get("version") == "1.0"
    await alice.close()
