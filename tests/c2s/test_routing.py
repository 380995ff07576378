"""
Routing between local users (RFC 6121 §8) and the stanza errors of RFC 6120
§8.3 for what cannot be routed.
"""

from tests.aio import asyncioTest
from tests.rawclient import NS_CLIENT, RawClient, q, stanzaErrorCondition

DISCO_INFO = "http://jabber.org/protocol/disco#info"


async def online(xmpp, name, resource, priority=None):
    client = await RawClient.connect(xmpp.port)
    await client.login(name, "secret-" + name, resource)
    if priority is None:
        client.sendRaw("<presence/>")
    else:
        client.sendRaw("<presence><priority>%d</priority></presence>" % priority)
    while True:  # up to the reflection of its own presence
        element = await client.expect()
        if element.tag == q(NS_CLIENT, "presence") and element.get("from") == client.jid:
            return client


async def nextMessage(client):
    """The next message, past presence of the account's other resources."""
    while True:
        element = await client.expect()
        if element.tag != q(NS_CLIENT, "presence"):
            return element


async def noMessage(client):
    """True if nothing but presence arrived before a ping's answer."""
    return all(e.tag == q(NS_CLIENT, "presence") for e in await client.roundTrip())


def body(element):
    return element.findtext(q(NS_CLIENT, "body"))


@asyncioTest
async def test_bare_jid_chat_goes_to_highest_priority_resources(xmpp):
    low = await online(xmpp, "bob", "low", 1)
    high = await online(xmpp, "bob", "high", 5)
    alice = await online(xmpp, "alice", "a")
    alice.sendRaw("<message to='bob@localhost' type='chat' id='c1'><body>one</body></message>")
    received = await nextMessage(high)
    assert body(received) == "one" and received.get("to") == "bob@localhost"
    assert await noMessage(low)


@asyncioTest
async def test_a_message_arrives_as_its_sender_wrote_it_with_the_server_from(xmpp):
    bob = await online(xmpp, "bob", "b")
    alice = await online(xmpp, "alice", "a")
    # Written the way the server would not write it (double quotes, entities,
    # CDATA, whitespace), so that what arrives comes from the sender's text.
    alice.sendRaw("<message to=\"bob@localhost\" type='chat' id='w1' xml:lang='en'>\n"
                  " <body>it&apos;s &#x263A; &amp; <![CDATA[<b>]]></body>"
                  "<active xmlns=\"http://jabber.org/protocol/chatstates\"/></message>")
    received = await nextMessage(bob)
    assert received.get("from") == "alice@localhost/a"
    assert received.get("to") == "bob@localhost" and received.get("id") == "w1"
    assert received.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"
    assert body(received) == "it's \u263a & <b>"
    assert [child.tag for child in received] == [
        q(NS_CLIENT, "body"), "{http://jabber.org/protocol/chatstates}active"]


@asyncioTest
async def test_a_message_to_an_unprepared_address_arrives_with_the_prepared_one(xmpp):
    bob = await online(xmpp, "bob", "b")
    alice = await online(xmpp, "alice", "a")
    alice.sendRaw("<message to='Bob@LocalHost' type='chat' id='p1'><body>hi</body></message>")
    received = await nextMessage(bob)
    assert received.get("to") == "bob@localhost" and body(received) == "hi"
    assert received.get("from") == "alice@localhost/a"


@asyncioTest
async def test_headline_to_bare_jid_goes_to_every_available_resource(xmpp):
    first = await online(xmpp, "bob", "one", 0)
    second = await online(xmpp, "bob", "two", 3)
    alice = await online(xmpp, "alice", "a")
    alice.sendRaw("<message to='bob@localhost' type='headline'><body>news</body></message>")
    assert body(await nextMessage(first)) == "news"
    assert body(await nextMessage(second)) == "news"


@asyncioTest
async def test_full_jid_reaches_that_resource_whatever_its_priority(xmpp):
    negative = await online(xmpp, "bob", "neg", -1)
    alice = await online(xmpp, "alice", "a")
    alice.sendRaw("<message to='bob@localhost/neg' type='normal'><body>direct</body></message>")
    assert body(await negative.expect()) == "direct"


@asyncioTest
async def test_groupchat_to_bare_jid_is_service_unavailable(xmpp):
    await online(xmpp, "bob", "b")
    alice = await online(xmpp, "alice", "a")
    alice.sendRaw("<message to='bob@localhost' type='groupchat' id='g1'><body>x</body></message>")
    error = await alice.expect()
    assert error.get("id") == "g1" and error.get("type") == "error"
    assert error.get("from") == "bob@localhost"
    assert stanzaErrorCondition(error) == ("cancel", "service-unavailable")
    assert body(error) == "x"
    assert list(error)[-1].tag == q(NS_CLIENT, "error")


@asyncioTest
async def test_message_to_unknown_user_is_service_unavailable(xmpp):
    alice = await online(xmpp, "alice", "a")
    alice.sendRaw("<message to='nobody@localhost' type='chat' id='u1'><body>hello?</body></message>")
    error = await alice.expect()
    assert error.get("id") == "u1"
    assert stanzaErrorCondition(error) == ("cancel", "service-unavailable")


@asyncioTest
async def test_remote_domain_is_remote_server_not_found(xmpp):
    alice = await online(xmpp, "alice", "a")
    alice.sendRaw("<message to='someone@remote.example' id='r1'><body>x</body></message>")
    error = await alice.expect()
    assert error.get("from") == "someone@remote.example"
    assert stanzaErrorCondition(error) == ("cancel", "remote-server-not-found")


@asyncioTest
async def test_malformed_to_is_jid_malformed(xmpp):
    alice = await online(xmpp, "alice", "a")
    alice.sendRaw("<message to='a@b@c' id='j1'><body>x</body></message>")
    error = await alice.expect()
    assert error.get("id") == "j1"
    assert stanzaErrorCondition(error) == ("modify", "jid-malformed")


@asyncioTest
async def test_bad_iqs_are_bad_request(xmpp):
    alice = await online(xmpp, "alice", "a")
    alice.sendRaw("<iq type='get' id='two' to='localhost'><ping xmlns='urn:xmpp:ping'/>"
                  "<ping xmlns='urn:xmpp:ping'/></iq>")
    assert stanzaErrorCondition(await alice.expect()) == ("modify", "bad-request")
    alice.sendRaw("<iq type='fetch' id='t1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert stanzaErrorCondition(await alice.expect()) == ("modify", "bad-request")


@asyncioTest
async def test_unhandled_namespace_is_service_unavailable(xmpp):
    alice = await online(xmpp, "alice", "a")
    alice.sendRaw("<iq type='get' id='x1' to='localhost'><query xmlns='urn:example:none'/></iq>")
    reply = await alice.expect()
    assert reply.get("id") == "x1" and reply.get("from") == "localhost"
    assert stanzaErrorCondition(reply) == ("cancel", "service-unavailable")
    alice.sendRaw("<iq type='get' id='x2' to='bob@localhost'><query xmlns='urn:example:none'/></iq>")
    assert stanzaErrorCondition(await alice.expect()) == ("cancel", "service-unavailable")


@asyncioTest
async def test_iq_to_full_jid_is_routed_and_answered(xmpp):
    bob = await online(xmpp, "bob", "b")
    alice = await online(xmpp, "alice", "a")
    alice.sendRaw("<iq type='get' id='v1' to='bob@localhost/b'>"
                  "<query xmlns='jabber:iq:version'/></iq>")
    request = await bob.expect()
    assert request.get("from") == "alice@localhost/a" and request.get("id") == "v1"
    bob.sendRaw("<iq type='result' id='v1' to='alice@localhost/a'>"
                "<query xmlns='jabber:iq:version'><name>bobclient</name></query></iq>")
    answer = await alice.expect()
    assert answer.get("type") == "result" and answer.get("from") == "bob@localhost/b"
    alice.sendRaw("<iq type='get' id='v2' to='bob@localhost/gone'>"
                  "<query xmlns='jabber:iq:version'/></iq>")
    assert stanzaErrorCondition(await alice.expect()) == ("cancel", "service-unavailable")


@asyncioTest
async def test_server_answers_disco_version_and_ping(xmpp):
    alice = await online(xmpp, "alice", "a")
    alice.sendRaw("<iq type='get' id='d1' to='localhost'><query xmlns='%s'/></iq>" % DISCO_INFO)
    info = await alice.expect()
    query = info.find(q(DISCO_INFO, "query"))
    features = {f.get("var") for f in query.findall(q(DISCO_INFO, "feature"))}
    assert {"urn:xmpp:ping", "jabber:iq:version", DISCO_INFO} <= features
    identity = query.find(q(DISCO_INFO, "identity"))
    assert (identity.get("category"), identity.get("type")) == ("server", "im")
    alice.sendRaw("<iq type='get' id='d2' to='alice@localhost'><query xmlns='%s'/></iq>" % DISCO_INFO)
    account = (await alice.expect()).find(q(DISCO_INFO, "query")).find(q(DISCO_INFO, "identity"))
    assert (account.get("category"), account.get("type")) == ("account", "registered")
    # bob's account answers only bob and his presence contacts (docs/security.md).
    alice.sendRaw("<iq type='get' id='d3' to='bob@localhost'><query xmlns='%s'/></iq>" % DISCO_INFO)
    assert stanzaErrorCondition(await alice.expect()) == ("cancel", "service-unavailable")
    alice.sendRaw("<iq type='get' id='ver' to='localhost'><query xmlns='jabber:iq:version'/></iq>")
    version = (await alice.expect()).find(q("jabber:iq:version", "query"))
    assert version.findtext(q("jabber:iq:version", "name")) == "xmppd"


@asyncioTest
async def test_closed_stream_sends_unavailable_to_own_resources(xmpp):
    stay = await online(xmpp, "bob", "stay")
    leave = await online(xmpp, "bob", "leave")
    initial = await stay.expect()
    assert initial.get("from") == "bob@localhost/leave" and initial.get("type") is None
    leave.abort()
    gone = await stay.expect()
    assert gone.get("type") == "unavailable" and gone.get("from") == "bob@localhost/leave"


@asyncioTest
async def test_stanzas_with_a_child_named_like_the_routers_notes_are_routed(xmpp):
    bob = await online(xmpp, "bob", "b")
    alice = await online(xmpp, "alice", "a")
    alice.sendRaw("<message to='bob@localhost' type='chat' id='h1'><body>one</body>"
                  "<handling xmlns='urn:example'/><handled xmlns='urn:example'/></message>")
    assert body(await nextMessage(bob)) == "one"
    alice.sendRaw("<iq type='get' id='h2' to='bob@localhost/b'><handling xmlns='urn:example'/></iq>")
    iq = await nextMessage(bob)
    assert (iq.tag, iq.get("id")) == (q(NS_CLIENT, "iq"), "h2")
    # The stream goes on: what follows is routed too.
    alice.sendRaw("<message to='bob@localhost' type='chat' id='h3'><body>two</body></message>")
    assert body(await nextMessage(bob)) == "two"
