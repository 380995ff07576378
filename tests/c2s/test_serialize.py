"""
What a client stream writes for a stanza is what domish writes for it,
character for character, whether or not the fast serialiser takes it.
"""

import pytest
from twisted.words.protocols.jabber.xmlstream import NS_STREAMS
from twisted.words.xish import domish
from wokkel.generic import parseXml

from xmppd.c2s.serialize import toXml

NS_CLIENT = "jabber:client"
PREFIXES = {NS_STREAMS: "stream"}

PARSED = [
    "<message xmlns='jabber:client' to='b@h' type='chat' id='1'><body>hi &amp; &lt;bye&gt;"
    "</body></message>",
    "<message xmlns='jabber:client' to='b@h'><body>x</body>"
    "<active xmlns='http://jabber.org/protocol/chatstates'/>"
    "<request xmlns='urn:xmpp:receipts'/></message>",
    "<message xmlns='jabber:client' to='b@h' xml:lang='en'><body xml:lang='de'>ja</body>"
    "</message>",
    "<message xmlns='jabber:client' to=\"b@h\" id='&apos;&quot;&amp;'/>",
    "<presence xmlns='jabber:client'><x xmlns='vcard-temp:x:update'><photo/></x>"
    "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v'/></presence>",
    "<iq xmlns='jabber:client' type='result' id='r'><query xmlns='jabber:iq:roster'>"
    "<item jid='a@h' subscription='both'><group>Friends</group></item></query></iq>",
    # Prefixed, or attributes of another namespace: domish's own path.
    "<message xmlns='jabber:client' xmlns:foo='urn:foo'><foo:bar>x</foo:bar></message>",
    "<message xmlns='jabber:client' xmlns:foo='urn:foo' foo:attr='1'><body>x</body></message>",
    "<stream:error xmlns:stream='http://etherx.jabber.org/streams'>"
    "<conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
    "<message xmlns='jabber:client'><body>text <b>and</b> more</body></message>",
]


def _domish(element):
    return element.toXml(prefixes=PREFIXES, defaultUri=NS_CLIENT,
                         prefixesInScope=list(PREFIXES.values()))


@pytest.mark.parametrize("xml", PARSED)
def test_a_parsed_stanza_is_written_as_domish_writes_it(xml):
    element = parseXml(xml.encode("utf-8"))
    assert toXml(element, NS_CLIENT, PREFIXES) == _domish(element)


def _built():
    """Elements the server builds itself: no namespace, its own, raw XML inside."""
    message = domish.Element((None, "message"))
    message["to"] = "b@h"
    message.addElement("body", content="a < b")
    forwarded = message.addElement(("urn:xmpp:carbons:2", "received")).addElement(
        ("urn:xmpp:forward:0", "forwarded"))
    forwarded.addChild(parseXml(b"<message xmlns='jabber:client' to='b@h'><body>x</body>"
                                b"</message>"))
    yield message
    error = domish.Element((NS_CLIENT, "iq"))
    error["type"] = "error"
    error.addElement(("urn:ietf:params:xml:ns:xmpp-stanzas", "text"), content="why")
    error.addRawXml("<raw xmlns='urn:raw'/>")
    yield error
    yield domish.Element((NS_STREAMS, "features"))
    yield domish.Element(("urn:other", "message"))
    lang = domish.Element((None, "message"))
    lang[("http://www.w3.org/XML/1998/namespace", "lang")] = "en"
    yield lang
    # A raw child alone, texts in pieces, each character that needs escaping.
    raw = domish.Element((None, "message"))
    raw.addRawXml("<body>as is &amp; kept</body>")
    yield raw
    pieces = domish.Element((None, "message"))
    pieces["id"] = "a>b"
    pieces["to"] = "x\"y"
    body = pieces.addElement("body")
    body.addContent("one & ")
    body.children.append("two > ")
    body.children.append("three")
    pieces.addElement("subject", content="<plain>")
    yield pieces


@pytest.mark.parametrize("element", list(_built()))
def test_a_built_stanza_is_written_as_domish_writes_it(element):
    assert toXml(element, NS_CLIENT, PREFIXES) == _domish(element)


def test_a_chat_message_with_payloads_needs_no_domish(monkeypatch):
    element = parseXml(PARSED[1].encode("utf-8"))
    expected = _domish(element)

    def refuse(*args, **kwargs):
        raise AssertionError("domish serialiser used")

    monkeypatch.setattr(domish.Element, "toXml", refuse)
    assert toXml(element, NS_CLIENT, PREFIXES) == expected
