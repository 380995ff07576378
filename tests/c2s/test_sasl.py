"""SASL (RFC 6120 §6): mechanisms offered, successes, and each failure."""

import base64

from tests.aio import asyncioTest, wait
from tests.rawclient import NS_BIND, NS_SASL, NS_STREAMS, RawClient, q


def failureCondition(element):
    assert element.tag == q(NS_SASL, "failure"), element.tag
    return [c.tag.split("}")[1] for c in element if not c.tag.endswith("}text")][0]


async def encrypted(xmpp):
    client = await RawClient.connect(xmpp.port)
    await client.open()
    await client.starttls()
    return client


@asyncioTest
async def test_scram_sha1_and_plain_succeed_over_tls(xmpp):
    for mechanism in ("SCRAM-SHA-1", "PLAIN"):
        client = await encrypted(xmpp)
        result = await client.authenticate("bob", "secret-bob", mechanism)
        assert result.tag == q(NS_SASL, "success"), mechanism
        await client.open()
        assert (await client.bind()).startswith("bob@localhost/")
        await client.close()


@asyncioTest
async def test_wrong_password_is_not_authorized_for_every_mechanism(xmpp):
    for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"):
        client = await encrypted(xmpp)
        result = await client.authenticate("alice", "wrong", mechanism)
        assert failureCondition(result) == "not-authorized", mechanism


@asyncioTest
async def test_unknown_user_is_not_authorized(xmpp):
    client = await encrypted(xmpp)
    result = await client.authenticate("mallory", "whatever")
    assert failureCondition(result) == "not-authorized"


@asyncioTest
async def test_too_many_failures_end_the_stream(xmpp):
    client = await encrypted(xmpp)
    for _ in range(4):
        assert failureCondition(await client.authenticate("alice", "wrong")) == "not-authorized"
    assert failureCondition(await client.authenticate("alice", "wrong")) == "not-authorized"
    await client.expectStreamError("policy-violation")


@asyncioTest
async def test_abort_and_bad_encoding(xmpp):
    client = await encrypted(xmpp)
    client.sendRaw("<auth xmlns='%s' mechanism='SCRAM-SHA-256'/>" % NS_SASL)
    challenge = await client.expect()
    assert challenge.tag == q(NS_SASL, "challenge")
    client.sendRaw("<abort xmlns='%s'/>" % NS_SASL)
    assert failureCondition(await client.expect()) == "aborted"
    client.sendRaw("<auth xmlns='%s' mechanism='SCRAM-SHA-256'>!!notbase64</auth>" % NS_SASL)
    assert failureCondition(await client.expect()) == "incorrect-encoding"
    client.sendRaw("<auth xmlns='%s' mechanism='X-UNKNOWN'>=</auth>" % NS_SASL)
    assert failureCondition(await client.expect()) == "invalid-mechanism"
    garbage = base64.b64encode(b"no-gs2-header").decode()
    client.sendRaw("<auth xmlns='%s' mechanism='SCRAM-SHA-256'>%s</auth>" % (NS_SASL, garbage))
    assert failureCondition(await client.expect()) == "malformed-request"


@asyncioTest
async def test_plain_is_never_offered_or_accepted_before_tls(make_database, tmp_path):
    from tests.harness import startServer
    database = await wait(make_database("sqlite"))
    server = await wait(startServer(database, tmp_path, {"c2s": {"require_encryption": False}}))
    try:
        await wait(server.addUser("alice", "secret-alice"))
        client = await RawClient.connect(server.port)
        await client.open()
        assert client.mechanisms() == ["SCRAM-SHA-256", "SCRAM-SHA-1"]
        result = await client.authenticate("alice", "secret-alice", "PLAIN")
        assert failureCondition(result) == "encryption-required"
        # SCRAM, which never reveals the password, may run before TLS here.
        result = await client.authenticate("alice", "secret-alice", "SCRAM-SHA-256")
        assert result.tag == q(NS_SASL, "success")
    finally:
        await wait(server.stop())


@asyncioTest
async def test_tls_required_hides_mechanisms_and_refuses_auth(xmpp):
    client = await RawClient.connect(xmpp.port)
    await client.open()
    assert client.mechanisms() == []
    result = await client.authenticate("alice", "secret-alice")
    assert failureCondition(result) == "encryption-required"


@asyncioTest
async def test_bind_generates_resource_and_legacy_session_is_accepted(xmpp):
    client = await encrypted(xmpp)
    await client.authenticate("carol", "secret-carol")
    features = await client.open()
    assert features.find(q(NS_BIND, "bind")) is not None
    assert features.find(q(NS_SASL, "mechanisms")) is None
    jid = await client.bind()
    assert jid.startswith("carol@localhost/") and len(jid) > len("carol@localhost/")
    client.sendRaw("<iq type='set' id='s1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>")
    reply = await client.expect()
    assert (reply.get("type"), reply.get("id")) == ("result", "s1")


@asyncioTest
async def test_stream_features_after_tls_offer_no_starttls_again(xmpp):
    client = await encrypted(xmpp)
    assert client.features.find(q("urn:ietf:params:xml:ns:xmpp-tls", "starttls")) is None
    assert client.features.tag == q(NS_STREAMS, "features")
