"""
Stream errors (RFC 6120 §4.9): every way a client can break the stream, and
the exact stream error it gets before the server closes the connection.
"""

from tests.aio import asyncioTest, wait
from tests.rawclient import NS_STREAMS, RawClient, q


async def opened(xmpp):
    client = await RawClient.connect(xmpp.port)
    await client.open()
    return client


async def loggedIn(xmpp, name="alice", resource="r1"):
    client = await RawClient.connect(xmpp.port)
    await client.login(name, "secret-" + name, resource)
    return client


@asyncioTest
async def test_unknown_host_is_host_unknown(xmpp):
    client = await RawClient.connect(xmpp.port)
    client.sendRaw("<stream:stream xmlns='jabber:client' xmlns:stream='%s' "
                   "to='elsewhere.example' version='1.0'>" % NS_STREAMS)
    await client.expectStreamError("host-unknown")


@asyncioTest
async def test_missing_version_is_unsupported_version(xmpp):
    client = await RawClient.connect(xmpp.port)
    client.sendRaw("<stream:stream xmlns='jabber:client' xmlns:stream='%s' to='localhost'>"
                   % NS_STREAMS)
    await client.expectStreamError("unsupported-version")


@asyncioTest
async def test_wrong_stream_namespace_is_invalid_namespace(xmpp):
    client = await RawClient.connect(xmpp.port)
    client.sendRaw("<stream:stream xmlns='jabber:client' xmlns:stream='urn:wrong' "
                   "to='localhost' version='1.0'>")
    await client.expectStreamError("invalid-namespace")


@asyncioTest
async def test_wrong_content_namespace_is_invalid_namespace(xmpp):
    client = await RawClient.connect(xmpp.port)
    client.sendRaw("<stream:stream xmlns='jabber:server' xmlns:stream='%s' "
                   "to='localhost' version='1.0'>" % NS_STREAMS)
    await client.expectStreamError("invalid-namespace")


@asyncioTest
async def test_malformed_xml_is_not_well_formed(xmpp):
    client = await opened(xmpp)
    client.sendRaw("<message><body>unclosed</message>")
    await client.expectStreamError("not-well-formed")


@asyncioTest
async def test_doctype_is_restricted_xml(xmpp):
    client = await RawClient.connect(xmpp.port)
    client.sendRaw("<?xml version='1.0'?><!DOCTYPE stream [<!ENTITY x 'boom'>]>"
                   "<stream:stream xmlns='jabber:client' xmlns:stream='%s' "
                   "to='localhost' version='1.0'>" % NS_STREAMS)
    await client.expectStreamError("restricted-xml")


@asyncioTest
async def test_comment_is_restricted_xml(xmpp):
    client = await opened(xmpp)
    client.sendRaw("<!-- hello -->")
    await client.expectStreamError("restricted-xml")


@asyncioTest
async def test_processing_instruction_is_restricted_xml(xmpp):
    client = await opened(xmpp)
    client.sendRaw("<?evil instruction?>")
    await client.expectStreamError("restricted-xml")


@asyncioTest
async def test_stanza_over_size_limit_is_policy_violation(xmpp):
    client = await loggedIn(xmpp)
    client.sendRaw("<message to='bob@localhost'><body>%s</body></message>" % ("x" * 300000))
    await client.expectStreamError("policy-violation")


@asyncioTest
async def test_stanza_before_authentication_is_not_authorized(xmpp):
    client = await opened(xmpp)
    await client.starttls()
    client.sendRaw("<message to='bob@localhost'><body>hi</body></message>")
    await client.expectStreamError("not-authorized")


@asyncioTest
async def test_unknown_top_level_element_is_unsupported_stanza_type(xmpp):
    client = await loggedIn(xmpp)
    client.sendRaw("<gossip xmlns='jabber:client'/>")
    await client.expectStreamError("unsupported-stanza-type")


@asyncioTest
async def test_stanza_in_foreign_namespace_is_invalid_namespace(xmpp):
    client = await loggedIn(xmpp)
    client.sendRaw("<message xmlns='jabber:server' to='bob@localhost'><body>x</body></message>")
    await client.expectStreamError("invalid-namespace")


@asyncioTest
async def test_spoofed_from_is_invalid_from(xmpp):
    client = await loggedIn(xmpp)
    client.sendRaw("<message from='bob@localhost/x' to='carol@localhost'><body>x</body></message>")
    await client.expectStreamError("invalid-from")


@asyncioTest
async def test_own_bare_jid_as_from_is_accepted(xmpp):
    client = await loggedIn(xmpp)
    client.sendRaw("<iq type='get' id='p1' from='alice@localhost' to='localhost'>"
                   "<ping xmlns='urn:xmpp:ping'/></iq>")
    reply = await client.expect()
    assert reply.get("type") == "result" and reply.get("id") == "p1"


@asyncioTest
async def test_unauthenticated_stream_times_out(make_database, tmp_path):
    from tests.harness import startServer
    database = await wait(make_database("sqlite"))
    server = await wait(startServer(database, tmp_path, {"c2s": {"auth_timeout": "1s"}}))
    try:
        client = await RawClient.connect(server.port)
        await client.open()
        await client.expectStreamError("connection-timeout")
    finally:
        await wait(server.stop())


@asyncioTest
async def test_whitespace_keepalives_are_harmless(xmpp):
    client = await loggedIn(xmpp)
    client.sendRaw(" \n \t ")
    assert await client.roundTrip() == []
    client.sendRaw(" ")
    assert await client.roundTrip() == []


@asyncioTest
async def test_second_bind_of_same_resource_replaces_old_session_with_conflict(xmpp):
    first = await loggedIn(xmpp, "alice", "desk")
    second = await loggedIn(xmpp, "alice", "desk")
    await first.expectStreamError("conflict")
    assert second.jid == "alice@localhost/desk"
    assert await second.roundTrip() == []
    bob = await loggedIn(xmpp, "bob", "b")
    bob.sendRaw("<message to='alice@localhost/desk' type='chat'><body>to the new one</body></message>")
    received = await second.expect()
    assert received.findtext(q("jabber:client", "body")) == "to the new one"


@asyncioTest
async def test_closing_the_stream_closes_ours(xmpp):
    client = await loggedIn(xmpp)
    client.sendRaw("</stream:stream>")
    assert await client.expectClosed()
    assert client.streamEnded


@asyncioTest
async def test_stream_error_is_logged_once_on_one_line(make_database, tmp_path):
    from twisted.python import log

    from tests.c2s.hostile import hostileServer
    server = await hostileServer(make_database, tmp_path)
    logged = []
    log.addObserver(logged.append)
    try:
        client = await RawClient.connect(server.port)
        await client.open()
        client.sendRaw("<iq type='get' id='1'><!-- a comment --></iq>")
        await client.expectStreamError("restricted-xml")
        lines = [" ".join(e.get("message", ())) for e in logged]
        errors = [line for line in lines if "stream error" in line]
        assert errors == ["c2s 127.0.0.1: stream error restricted-xml"]
        assert not [e for e in logged if e.get("isError")]
    finally:
        log.removeObserver(logged.append)
        await wait(server.stop())


@asyncioTest
async def test_a_login_leaves_one_stream_error_observer_not_one_per_header(xmpp):
    from xmppd.c2s.xmlstream import STREAM_ERROR_QUERY
    alice = await RawClient.connect(xmpp.port)
    await alice.login("alice", "secret-alice", "cli")
    [stream] = [xs for xs in xmpp.server.c2sFactory.streams
                if xs.authenticator.session is not None]
    # Three headers (the first, after STARTTLS, after SASL) on one stream.
    observed = [len(callbacks.callbacks)
                for observers in stream._xpathObservers.values()
                for query, callbacks in observers.items()
                if getattr(query, "queryStr", None) == STREAM_ERROR_QUERY]
    assert observed == [1]
    await alice.close()
