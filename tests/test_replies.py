"""
The IQ results the server writes from text (``xmppd.replies``) are what
``toResponse`` and the client stream's serialiser write, byte for byte,
addresses and ids that need escaping included.
"""

import pytest
from twisted.words.protocols.jabber.xmlstream import NS_STREAMS, toResponse
from twisted.words.xish import domish
from wokkel.generic import parseXml

from xmppd.c2s.serialize import toBytes
from xmppd.replies import resultText

NS_CLIENT = "jabber:client"
PREFIXES = {NS_STREAMS: "stream"}

REQUESTS = [
    "<iq xmlns='jabber:client' type='get' id='p1' to='localhost' from='alice@localhost/r1'>"
    "<ping xmlns='urn:xmpp:ping'/></iq>",
    "<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
    "<resource>r</resource></bind></iq>",
    "<iq xmlns='jabber:client' type='get' id='&apos;&quot;&amp;&lt;&gt;' to='alice@localhost'"
    " from='alice@localhost/it&apos;s &lt;mine&gt;'><query xmlns='jabber:iq:roster'/></iq>",
    "<iq xmlns='jabber:client' type='get' id='' to='' from='alice@localhost/r'><q xmlns='x'/></iq>",
]


def written(iq, payload=None):
    """What a client stream writes for the reply built as elements."""
    reply = toResponse(iq, "result")
    if payload is not None:
        reply.addChild(payload)
    return toBytes(reply, NS_CLIENT, PREFIXES)


@pytest.mark.parametrize("request_xml", REQUESTS)
def test_an_empty_result_is_what_toresponse_writes(request_xml):
    iq = parseXml(request_xml)
    assert resultText(iq).encode("utf-8") == written(iq)


@pytest.mark.parametrize("request_xml", REQUESTS)
def test_a_result_with_a_payload_is_what_toresponse_writes(request_xml):
    iq = parseXml(request_xml)
    query = domish.Element(("jabber:iq:roster", "query"))
    query["ver"] = "7"
    item = query.addElement("item")
    item["jid"] = "bob@localhost"
    item["name"] = "Bob & <co>"
    item.addElement("group", content="Friends & 'family'")
    expected = written(iq, query)
    assert resultText(iq, query).encode("utf-8") == expected
    text = query.toXml(defaultUri=NS_CLIENT)
    assert resultText(iq, text).encode("utf-8") == expected
