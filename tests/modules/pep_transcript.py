"""
Building blocks for PEP transcripts (XEP-0163): clients that announce
XEP-0115 caps and answer the server's disco#info query about them, publish
with publish-options, fetch items, and read notifications.

The caps hash is computed here from XEP-0115 §5.1, independently of the
server's code, so that a test proves the server verifies what real clients
send.
"""

import base64
import hashlib
import xml.etree.ElementTree as ET
import uuid

from tests.modules.test_roster import expectPresence, login, rosterGet
from tests.rawclient import NS_CLIENT, NS_STANZAS, q

NS_CAPS = "http://jabber.org/protocol/caps"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
NS_PUBSUB = "http://jabber.org/protocol/pubsub"
NS_PUBSUB_EVENT = NS_PUBSUB + "#event"
NS_PUBSUB_OWNER = NS_PUBSUB + "#owner"
NS_PUBSUB_ERRORS = NS_PUBSUB + "#errors"
DEVICELIST = "eu.siacs.conversations.axolotl.devicelist"
BUNDLES = "eu.siacs.conversations.axolotl.bundles"
AVATAR_DATA = "urn:xmpp:avatar:data"
AVATAR_METADATA = "urn:xmpp:avatar:metadata"
NICK = "http://jabber.org/protocol/nick"
BOOKMARKS = "urn:xmpp:bookmarks:1"
CLIENT_NODE = "https://xmppd.example/test-client"
IDENTITY = ("client", "pc", "", "Transcript")


def capsVer(features, identity=IDENTITY):
    """XEP-0115 §5.1 over one identity and ``features``, SHA-1, base64."""
    string = "%s/%s/%s/%s<" % identity + "".join("%s<" % f for f in sorted(set(features)))
    return base64.b64encode(hashlib.sha1(string.encode("utf-8")).digest()).decode()


def clientFeatures(notify=()):
    return [NS_DISCO_INFO, NS_CAPS] + ["%s+notify" % node for node in notify]


def capsElement(features, ver=None):
    return "<c xmlns='%s' hash='sha-1' node='%s' ver='%s'/>" % (
        NS_CAPS, CLIENT_NODE, ver or capsVer(features))


async def answerCapsQuery(client, features, ver=None, identity=IDENTITY):
    """
    Read up to the server's disco#info query on our caps node, answer it
    with ``features``, and return what arrived before it.
    """
    before = []
    while True:
        element = await client.expect()
        query = element.find(q(NS_DISCO_INFO, "query"))
        if element.tag == q(NS_CLIENT, "iq") and element.get("type") == "get" and \
                query is not None:
            break
        before.append(element)
    assert element.get("from") == "localhost", ET.tostring(element)
    answerCaps(client, element, features, ver, identity)
    return before


def answerCaps(client, element, features, ver=None, identity=IDENTITY):
    """Answer the disco#info query ``element`` (whoever asks) with ``features``."""
    query = element.find(q(NS_DISCO_INFO, "query"))
    assert element.get("to") == client.jid, ET.tostring(element)
    assert query.get("node") == "%s#%s" % (CLIENT_NODE, ver or capsVer(features))
    category, kind, _, name = identity
    client.sendRaw(
        "<iq type='result' id='%s' to='%s'><query xmlns='%s' node='%s'>"
        "<identity category='%s' type='%s' name='%s'/>%s</query></iq>" % (
            element.get("id"), element.get("from"), NS_DISCO_INFO, query.get("node"),
            category, kind, name, "".join("<feature var='%s'/>" % f for f in features)))


async def online(xmpp, name, resource="pc", notify=(), answer=True):
    """
    Log in, get the roster, send initial presence with caps wanting
    ``notify`` and answer the caps query (unless ``answer`` is False: a
    second client of software the server knows is not asked again).
    """
    client = await login(xmpp, name, resource)
    await rosterGet(client)
    features = clientFeatures(notify)
    client.sendRaw("<presence>%s</presence>" % capsElement(features))
    await expectPresence(client, client.jid)
    client.features = features
    client.name = name
    if answer:
        client.beforeCaps = await answerCapsQuery(client, features)
    return client


def publishOptions(**fields):
    """A XEP-0060 §7.1.5 publish-options form from pubsub#NAME=value keywords."""
    if not fields:
        return ""
    return ("<publish-options><x xmlns='jabber:x:data' type='submit'>"
            "<field var='FORM_TYPE' type='hidden'>"
            "<value>http://jabber.org/protocol/pubsub#publish-options</value></field>%s"
            "</x></publish-options>" % "".join(
                "<field var='pubsub#%s'><value>%s</value></field>" % (k, v)
                for k, v in fields.items()))


def publish(client, node, payload, itemId=None, options="", iqId=None, to=None):
    iqId = iqId or "pub-" + uuid.uuid4().hex[:6]
    item = "<item%s>%s</item>" % (" id='%s'" % itemId if itemId else "", payload)
    target = " to='%s'" % to if to else ""
    client.sendRaw("<iq type='set' id='%s'%s><pubsub xmlns='%s'><publish node='%s'>%s"
                   "</publish>%s</pubsub></iq>" % (iqId, target, NS_PUBSUB, node, item, options))
    return iqId


async def expectPublished(client, iqId, node):
    """The publish result: fire the item id the server answers with."""
    result = await expectResult(client, iqId)
    item = result.find(q(NS_PUBSUB, "pubsub")).find(q(NS_PUBSUB, "publish"))
    assert item.get("node") == node, ET.tostring(result)
    return item.find(q(NS_PUBSUB, "item")).get("id")


async def expectResult(client, iqId):
    result = await client.expect()
    assert (result.tag, result.get("type"), result.get("id")) == (
        q(NS_CLIENT, "iq"), "result", iqId), ET.tostring(result)
    return result


def requestItems(client, owner, node, maxItems=None, itemIds=(), iqId=None):
    iqId = iqId or "items-" + uuid.uuid4().hex[:6]
    attr = " max_items='%d'" % maxItems if maxItems else ""
    inner = "".join("<item id='%s'/>" % i for i in itemIds)
    client.sendRaw("<iq type='get' id='%s' to='%s'><pubsub xmlns='%s'>"
                   "<items node='%s'%s>%s</items></pubsub></iq>"
                   % (iqId, owner, NS_PUBSUB, node, attr, inner))
    return iqId


async def fetchItems(client, owner, node, **kw):
    """The ``(id, payload element)`` pairs of an items result."""
    result = await expectResult(client, requestItems(client, owner, node, **kw))
    items = result.find(q(NS_PUBSUB, "pubsub")).find(q(NS_PUBSUB, "items"))
    assert items.get("node") == node, ET.tostring(result)
    return [(i.get("id"), i[0] if len(i) else None) for i in items.findall(q(NS_PUBSUB, "item"))]


async def expectError(client, iqId, condition, errorType=None, pubsubCondition=None):
    reply = await client.expect()
    assert (reply.get("type"), reply.get("id")) == ("error", iqId), ET.tostring(reply)
    error = reply.find(q(NS_CLIENT, "error"))
    conditions = [c.tag for c in error if c.tag.startswith("{%s}" % NS_STANZAS)
                  and not c.tag.endswith("}text")]
    assert conditions == [q(NS_STANZAS, condition)], ET.tostring(reply)
    if errorType is not None:
        assert error.get("type") == errorType, ET.tostring(reply)
    if pubsubCondition is not None:
        assert error.find(q(NS_PUBSUB_ERRORS, pubsubCondition)) is not None, ET.tostring(reply)
    return reply


async def expectEvent(client, owner, node):
    """The next stanza is a PEP notification from ``owner`` about ``node``: its items."""
    message = await client.expect()
    assert message.tag == q(NS_CLIENT, "message"), ET.tostring(message)
    assert (message.get("from"), message.get("to"), message.get("type")) == (
        owner, client.jid, "headline"), ET.tostring(message)
    event = message.find(q(NS_PUBSUB_EVENT, "event"))
    items = event.find(q(NS_PUBSUB_EVENT, "items"))
    assert items is not None and items.get("node") == node, ET.tostring(message)
    return items


def itemsOf(items):
    return [(i.get("id"), ET.tostring(i[0], encoding="unicode") if len(i) else None)
            for i in items.findall(q(NS_PUBSUB_EVENT, "item"))]


async def expectNothing(*clients):
    """No stanza at all reached any of ``clients`` (a ping round trip each)."""
    for client in clients:
        got = await client.roundTrip()
        assert got == [], (client.jid, [ET.tostring(e) for e in got])


async def expectNoEvents(*clients):
    """Nothing but presence reached any of ``clients`` (a ping round trip each)."""
    for client in clients:
        got = [e for e in await client.roundTrip() if e.tag != q(NS_CLIENT, "presence")]
        assert got == [], (client.jid, [ET.tostring(e) for e in got])


async def expectStanza(client):
    """The next stanza that is not presence."""
    while True:
        element = await client.expect()
        if element.tag != q(NS_CLIENT, "presence"):
            return element
