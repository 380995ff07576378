"""
IQs to an account's bare JID, answered by the server on the account's behalf
as its disco#info says (RFC 6121 §8.5.1; XEP-0199, XEP-0092).
"""

import xml.etree.ElementTree as ET

from tests.aio import asyncioTest
from tests.rawclient import NS_CLIENT, RawClient, q, stanzaErrorCondition

NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_PING = "urn:xmpp:ping"
NS_VERSION = "jabber:iq:version"


async def loggedIn(xmpp, name, resource="r1"):
    client = await RawClient.connect(xmpp.port)
    await client.login(name, "secret-" + name, resource)
    return client


async def ask(client, to, payload, id="q1"):
    """Send an IQ get to ``to`` (no ``to`` if None) and return the answer."""
    address = "" if to is None else " to='%s'" % to
    client.sendRaw("<iq type='get' id='%s'%s>%s</iq>" % (id, address, payload))
    reply = await client.expect()
    assert reply.tag == q(NS_CLIENT, "iq") and reply.get("id") == id, ET.tostring(reply)
    return reply


def features(reply):
    return {f.get("var") for f in reply.find(q(NS_DISCO_INFO, "query")).findall(
        q(NS_DISCO_INFO, "feature"))}


@asyncioTest
async def test_ping_to_an_account_bare_jid_is_answered_by_the_server(xmpp):
    alice = await loggedIn(xmpp, "alice")
    bob = await loggedIn(xmpp, "bob")
    reply = await ask(alice, "bob@localhost", "<ping xmlns='urn:xmpp:ping'/>")
    assert (reply.get("type"), reply.get("from")) == ("result", "bob@localhost")
    # Bob's client never sees it: the server answered for him.
    assert await bob.roundTrip() == []
    await alice.close()
    await bob.close()


@asyncioTest
async def test_ping_without_to_is_answered_for_the_own_account(xmpp):
    alice = await loggedIn(xmpp, "alice")
    reply = await ask(alice, None, "<ping xmlns='urn:xmpp:ping'/>")
    assert (reply.get("type"), reply.get("from")) == ("result", "alice@localhost")
    await alice.close()


@asyncioTest
async def test_version_to_an_account_bare_jid_names_the_server_software(xmpp):
    import xmppd
    alice = await loggedIn(xmpp, "alice")
    reply = await ask(alice, "bob@localhost", "<query xmlns='jabber:iq:version'/>")
    assert (reply.get("type"), reply.get("from")) == ("result", "bob@localhost")
    query = reply.find(q(NS_VERSION, "query"))
    assert (query.findtext(q(NS_VERSION, "name")), query.findtext(q(NS_VERSION, "version"))) == (
        "xmppd", xmppd.__version__)
    await alice.close()


@asyncioTest
async def test_ping_and_version_to_an_account_that_does_not_exist_are_service_unavailable(xmpp):
    alice = await loggedIn(xmpp, "alice")
    for id, payload in (("p", "<ping xmlns='urn:xmpp:ping'/>"),
                        ("v", "<query xmlns='jabber:iq:version'/>")):
        reply = await ask(alice, "nobody@localhost", payload, id)
        assert stanzaErrorCondition(reply) == ("cancel", "service-unavailable")
    await alice.close()


@asyncioTest
async def test_every_feature_disco_lists_on_an_account_is_answered(xmpp):
    from tests.modules.test_time_last_caps import subscribe
    await subscribe(xmpp, "bob@localhost", "alice@localhost")
    alice = await loggedIn(xmpp, "alice")
    bob = await loggedIn(xmpp, "bob")
    bob.sendRaw("<presence/>")
    await bob.expect()
    reply = await ask(alice, "bob@localhost",
                      "<query xmlns='http://jabber.org/protocol/disco#info'/>")
    listed = features(reply)
    assert {NS_PING, NS_VERSION} <= listed
    probes = {NS_PING: "<ping xmlns='urn:xmpp:ping'/>",
              NS_VERSION: "<query xmlns='jabber:iq:version'/>",
              "jabber:iq:last": "<query xmlns='jabber:iq:last'/>",
              "vcard-temp": "<vCard xmlns='vcard-temp'/>"}
    pubsub = ("<pubsub xmlns='http://jabber.org/protocol/pubsub'>"
              "<items node='urn:xmpp:avatar:metadata'/></pubsub>")
    for namespace in listed:
        if namespace.startswith("http://jabber.org/protocol/pubsub"):
            # PEP (XEP-0163): its service answers, here that bob has no avatar.
            answer = await ask(alice, "bob@localhost", pubsub, "probe")
            assert answer.get("type") == "error", ET.tostring(answer)
            assert stanzaErrorCondition(answer)[1] == "item-not-found", ET.tostring(answer)
            continue
        assert namespace in probes, "disco lists %s on an account; nothing probes it" % namespace
        answer = await ask(alice, "bob@localhost", probes[namespace], "probe")
        assert answer.get("type") == "result", ET.tostring(answer)
    await alice.close()
    await bob.close()
