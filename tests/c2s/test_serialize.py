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


# A client stream's stanzas, written from the text they arrived in --------------

HEADER = (b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
          b" to='localhost' version='1.0'>")
SENDER = "alice@h/phone"


def _received(data, header=HEADER, keepsText=True, reads=None):
    """The stanzas a client stream's parser makes of ``data``, stamped as a session does."""
    from xmppd.c2s.xmlstream import HardenedElementStream
    stream = HardenedElementStream()
    stream.keepsText = keepsText
    elements = []
    stream.DocumentStartEvent = lambda root: None
    stream.ElementEvent = elements.append
    stream.parse(header)
    if reads is None:
        stream.parse(data)
    else:
        for start in range(0, len(data), reads):
            stream.parse(data[start:start + reads])
    for element in elements:
        # As the session stamps it (xmppd.sessions), in the attributes.
        element.attributes["from"] = SENDER
    return elements


def _written(element):
    from xmppd.c2s.serialize import toBytes
    return toBytes(element, NS_CLIENT, PREFIXES)


def test_a_client_stanza_is_written_from_its_text_with_the_server_from():
    sent = (b"<message to=\"b@h\" type='chat' id='k1'>\n <body xml:lang='en'>it&apos;s"
            b" &#x263A;</body><active xmlns=\"http://jabber.org/protocol/chatstates\"/>"
            b"<x xmlns='urn:x'><![CDATA[a < b]]></x></message>")
    (message,) = _received(sent)
    written = _written(message)
    assert written == b"<message from='alice@h/phone'" + sent[len(b"<message"):]
    # What it means is what domish writes, attributes in any order.
    assert _meaning(parseXml(written)) == _meaning(parseXml(_domish(message).encode("utf-8")))


def _meaning(node):
    if isinstance(node, str):
        return str(node)
    return (node.uri, node.name, sorted(node.attributes.items()),
            [_meaning(child) for child in node.children])


def test_a_sender_jid_that_needs_escaping_is_escaped():
    (message,) = _received(b"<message to='b@h'><body>x</body></message>")
    message.attributes["from"] = "alice@h/it's <me> & \"you\""
    assert parseXml(_written(message))["from"] == "alice@h/it's <me> & \"you\""


def test_a_stanza_with_the_client_own_from_is_written_as_it_came():
    sent = b"<message from='alice@h/phone' to='b@h'><body>x</body></message>"
    (message,) = _received(sent)
    assert _written(message) == sent


def test_a_stanza_whose_from_the_server_changed_is_written_from_its_elements():
    (message,) = _received(b"<message from='alice@h' to='b@h'><body>x</body></message>")
    assert message["from"] == SENDER
    assert _written(message) == _domish(message).encode("utf-8")


def _changes():
    def to(message):
        message["to"] = "c@h"
    yield to

    def added(message):
        message.addElement(("urn:xmpp:sid:0", "stanza-id"))["id"] = "1"
    yield added

    def appended(message):
        message.children.append(domish.Element(("urn:y", "y")))
    yield appended

    def replaced(message):
        message.children = [c for c in message.children if c.name != "x"]
    yield replaced

    def nestedAttribute(message):
        next(message.elements())["xml:lang"] = "de"
    yield nestedAttribute

    def nestedText(message):
        next(message.elements()).addContent(" more")
    yield nestedText

    def deepChild(message):
        x = [c for c in message.elements() if c.name == "x"][0]
        next(x.elements()).addElement("z")
    yield deepChild


@pytest.mark.parametrize("change", list(_changes()), ids=lambda change: change.__name__)
def test_a_changed_stanza_is_written_from_its_elements(change):
    (message,) = _received(b"<message to='b@h' type='chat'><body>hi</body>"
                           b"<x xmlns='urn:x'><y/></x></message>")
    change(message)
    assert _written(message) == _domish(message).encode("utf-8")


@pytest.mark.parametrize("header, data, reads", [
    # A prefix declared in the stanza, or one of the header's own.
    (HEADER, b"<message xmlns:foo='urn:foo' to='b@h'><foo:bar>x</foo:bar></message>", None),
    (HEADER, b"<message to='b@h'><body xmlns:foo='urn:foo'>x</body></message>", None),
    (HEADER[:-1] + b" xmlns:foo='urn:foo'>", b"<message to='b@h'><foo:bar/></message>", None),
    (HEADER, b"<message to='b@h'><stream:bar/></message>", None),
    # An attribute of another namespace than xml's.
    (HEADER, b"<message xmlns:foo='urn:foo' foo:a='1' to='b@h'><body>x</body></message>", None),
    # A stanza split across reads.
    (HEADER, b"<message to='b@h'><body>split</body></message>", 10),
    # No end tag, or no children.
    (HEADER, b"<message to='b@h'/>", None),
    (HEADER, b"<message to='b@h'></message>", None),
], ids=["declared", "declared-below", "header-prefix", "stream-prefix", "qualified-attribute",
        "split", "empty", "childless"])
def test_text_that_could_mean_something_else_elsewhere_is_not_kept(header, data, reads):
    (message,) = _received(data, header=header, reads=reads)
    assert "_keptText" not in message.__dict__
    assert _written(message) == _domish(message).encode("utf-8")


def test_a_stream_that_is_not_a_client_one_keeps_no_text():
    (message,) = _received(b"<message to='b@h'><body>x</body></message>", keepsText=False)
    assert "_keptText" not in message.__dict__


def test_kept_text_is_written_only_to_a_client_namespace_stream():
    (message,) = _received(b"<message to='b@h'><body>x</body></message>")
    from xmppd.c2s.serialize import toBytes
    written = toBytes(message, "jabber:server", PREFIXES)
    assert written == message.toXml(prefixes=PREFIXES, defaultUri="jabber:server",
                                    prefixesInScope=["stream"]).encode("utf-8")


NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"


@pytest.mark.parametrize("request_, jid", [
    ("<iq xmlns='jabber:client' type='set' id='bind_1'><bind xmlns='%s'>"
     "<resource>phone</resource></bind></iq>" % NS_BIND, "juliet@example.com/phone"),
    ("<iq xmlns='jabber:client' type='set' id='&apos;&quot;&amp;&lt;'><bind xmlns='%s'/></iq>"
     % NS_BIND, "juliet@example.com/<&>'\""),
    # Addressed, or without an id.
    ("<iq xmlns='jabber:client' type='set' id='b' to='example.com'><bind xmlns='%s'/></iq>"
     % NS_BIND, "juliet@example.com/r"),
    ("<iq xmlns='jabber:client' type='set'><bind xmlns='%s'/></iq>" % NS_BIND,
     "juliet@example.com/r"),
])
def test_the_bind_result_is_written_as_domish_writes_twisteds_response(request_, jid):
    from twisted.words.protocols.jabber.xmlstream import toResponse

    from xmppd.c2s.negotiation import BIND_PAYLOAD
    from xmppd.replies import resultText
    iq = parseXml(request_)
    expected = toResponse(iq, "result")
    expected.addElement((NS_BIND, "bind")).addElement("jid", content=jid)
    assert resultText(iq, BIND_PAYLOAD % domish.escapeToXml(jid)) == _domish(expected)


def test_the_sasl_and_starttls_answers_are_written_as_domish_writes_them():
    from xmppd.c2s.negotiation import (NS_TLS, PROCEED, SASL_CHALLENGE, SASL_SUCCESS,
                                       SASL_SUCCESS_WITH_DATA)
    from xmppd.c2s.sasl import NS_SASL
    challenge = domish.Element((NS_SASL, "challenge"))
    challenge.addContent("cj1meWtv+Kw==")
    success = domish.Element((NS_SASL, "success"))
    withData = domish.Element((NS_SASL, "success"))
    withData.addContent("dj1ybUY5cHFWOFM3c3VBb1pXamE0ZEpSa0ZzS1E9")
    assert PROCEED == _domish(domish.Element((NS_TLS, "proceed")))
    assert SASL_CHALLENGE % "cj1meWtv+Kw==" == _domish(challenge)
    assert SASL_SUCCESS == _domish(success)
    assert SASL_SUCCESS_WITH_DATA % "dj1ybUY5cHFWOFM3c3VBb1pXamE0ZEpSa0ZzS1E9" == _domish(withData)
