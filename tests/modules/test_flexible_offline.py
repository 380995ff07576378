"""
Flexible Offline Message Retrieval (XEP-0013) transcripts, after the XEP's
examples: bob asks how many messages wait and who sent them, reads some,
removes some, fetches and purges the rest; having asked, he is not flooded
when he comes online.
"""

import xml.etree.ElementTree as ET

from tests.aio import asyncioTest
from tests.modules.mam_transcript import iq
from tests.offline.transcript import connect, expectMessages, online, send, sendPresence, settle
from tests.offline.transcript import storedCount
from tests.rawclient import NS_CLIENT, q, stanzaErrorCondition

NS_OFFLINE = "http://jabber.org/protocol/offline"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
BOB = "bob@localhost"


async def threeWaiting(xmpp):
    alice = await online(xmpp, "alice")
    carol = await online(xmpp, "carol")
    send(alice, BOB, "a1", "one")
    assert await settle(xmpp, "bob", alice) == [[]]
    send(carol, BOB, "c1", "two")
    assert await settle(xmpp, "bob", carol) == [[]]
    send(alice, BOB, "a2", "three")
    assert await settle(xmpp, "bob", alice) == [[]]
    return alice, carol


async def headers(client):
    reply = await iq(client, "<query xmlns='%s' node='%s'/>" % (NS_DISCO_ITEMS, NS_OFFLINE))
    assert reply.get("type") == "result", ET.tostring(reply)
    return [(i.get("node"), i.get("name"), i.get("jid"))
            for i in reply.find(q(NS_DISCO_ITEMS, "query"))]


async def collect(client, requestId):
    """The messages sent before the IQ answer ``requestId``, and that answer."""
    messages = []
    while True:
        element = await client.expect()
        if element.tag == q(NS_CLIENT, "iq") and element.get("id") == requestId:
            return messages, element
        if element.tag == q(NS_CLIENT, "message"):
            messages.append(element)


def offlineNode(message):
    return message.find(q(NS_OFFLINE, "offline")).find(q(NS_OFFLINE, "item")).get("node")


@asyncioTest
async def test_count_headers_view_remove_fetch_and_purge(serve, backend):
    xmpp = await serve(backend)
    await threeWaiting(xmpp)
    bob = await connect(xmpp, "bob", "orchard")
    # Example 1 and 2: the server supports it.
    info = await iq(bob, "<query xmlns='%s'/>" % NS_DISCO_INFO, to="localhost")
    assert NS_OFFLINE in [f.get("var") for f in info.iter(q(NS_DISCO_INFO, "feature"))]
    # Examples 3 and 4: how many.
    info = await iq(bob, "<query xmlns='%s' node='%s'/>" % (NS_DISCO_INFO, NS_OFFLINE))
    query = info.find(q(NS_DISCO_INFO, "query"))
    assert query.get("node") == NS_OFFLINE
    identity = query.find(q(NS_DISCO_INFO, "identity"))
    assert (identity.get("category"), identity.get("type")) == ("automation", "message-list")
    values = {f.get("var"): f.findtext("{jabber:x:data}value")
              for f in query.iter("{jabber:x:data}field")}
    assert values == {"FORM_TYPE": NS_OFFLINE, "number_of_messages": "3"}
    # Examples 5 and 6: the headers, oldest first.
    listed = await headers(bob)
    assert [name for _node, name, _jid in listed] == [
        "alice@localhost/r1", "carol@localhost/r1", "alice@localhost/r1"]
    assert {jid for _n, _name, jid in listed} == {bob.jid}
    nodes = [node for node, _n, _j in listed]
    # Examples 7 and 8: one message, marked with its node; viewing keeps it.
    bob.sendRaw("<iq type='get' id='view1'><offline xmlns='%s'><item action='view' node='%s'/>"
                "</offline></iq>" % (NS_OFFLINE, nodes[1]))
    messages, result = await collect(bob, "view1")
    assert result.get("type") == "result"
    assert [m.findtext(q(NS_CLIENT, "body")) for m in messages] == ["two"]
    assert offlineNode(messages[0]) == nodes[1]
    assert await storedCount(xmpp, "bob") == 3
    # Examples 9 and 10: remove it.
    removed = await iq(bob, "<offline xmlns='%s'><item action='remove' node='%s'/></offline>"
                       % (NS_OFFLINE, nodes[1]), type="set")
    assert removed.get("type") == "result"
    assert [n for n, _name, _j in await headers(bob)] == [nodes[0], nodes[2]]
    # Examples 11 and 12: a node that is gone.
    gone = await iq(bob, "<offline xmlns='%s'><item action='view' node='%s'/></offline>"
                    % (NS_OFFLINE, nodes[1]))
    assert stanzaErrorCondition(gone) == ("cancel", "item-not-found")
    # Examples 13 and 14: everything, still kept.
    bob.sendRaw("<iq type='get' id='fetch1'><offline xmlns='%s'><fetch/></offline></iq>"
                % NS_OFFLINE)
    messages, result = await collect(bob, "fetch1")
    assert result.get("type") == "result"
    assert [(m.findtext(q(NS_CLIENT, "body")), offlineNode(m)) for m in messages] == [
        ("one", nodes[0]), ("three", nodes[2])]
    assert messages[0].find("{urn:xmpp:delay}delay") is not None
    assert await storedCount(xmpp, "bob") == 2
    # Examples 15 and 16: purge.
    purged = await iq(bob, "<offline xmlns='%s'><purge/></offline>" % NS_OFFLINE, type="set")
    assert purged.get("type") == "result"
    assert await storedCount(xmpp, "bob") == 0
    assert await headers(bob) == []


@asyncioTest
async def test_a_client_that_asked_for_the_count_is_not_flooded_at_presence(serve, backend):
    xmpp = await serve(backend)
    await threeWaiting(xmpp)
    bob = await connect(xmpp, "bob", "orchard")
    await iq(bob, "<query xmlns='%s' node='%s'/>" % (NS_DISCO_INFO, NS_OFFLINE))
    await sendPresence(bob)
    assert await bob.roundTrip() == []
    assert await storedCount(xmpp, "bob") == 3
    # A client that does not use XEP-0013 still gets them at its presence.
    other = await online(xmpp, "bob", "other")
    assert len(await expectMessages(other, 3)) == 3


@asyncioTest
async def test_another_users_queue_is_forbidden_and_bad_requests_say_why(serve):
    xmpp = await serve("sqlite")
    await threeWaiting(xmpp)
    carol = await connect(xmpp, "carol", "spy")
    spying = await iq(carol, "<query xmlns='%s' node='%s'/>" % (NS_DISCO_ITEMS, NS_OFFLINE),
                      to="bob@localhost")
    assert stanzaErrorCondition(spying)[1] in ("forbidden", "service-unavailable")
    carol.sendRaw("<iq type='set' id='p1' to='bob@localhost'><offline xmlns='%s'><purge/>"
                  "</offline></iq>" % NS_OFFLINE)
    _messages, reply = await collect(carol, "p1")
    assert stanzaErrorCondition(reply) == ("auth", "forbidden")
    assert await storedCount(xmpp, "bob") == 3
    empty = await iq(carol, "<offline xmlns='%s'/>" % NS_OFFLINE)
    assert stanzaErrorCondition(empty) == ("modify", "bad-request")
