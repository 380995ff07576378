"""
The client stream's parser builds the very element trees that domish's
builds (names, namespaces, prefixes, attributes in order, text), whatever
shortcuts it takes: every module reads those trees.
"""

from twisted.words.xish import domish

from xmppd.c2s.xmlstream import HardenedElementStream

HEADER = (b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
          b" to='localhost' version='1.0'>")
STANZAS = [
    b"<message to='b@h' type='chat' id='1'><body>hi &amp; &lt;bye&gt; &#x263A;</body></message>",
    b"<message to='b@h' xml:lang='en'><body xml:lang='de'>ja</body>"
    b"<active xmlns='http://jabber.org/protocol/chatstates'/></message>",
    b"<message xmlns:foo='urn:foo' foo:attr='1' id='2'><foo:bar b='2' a='1'>x</foo:bar>"
    b"<baz xmlns='urn:baz'><inner/>tail</baz></message>",
    b"<iq type='set' id='3'><query xmlns='jabber:iq:roster'><item jid='a@h'>"
    b"<group>One</group><group>Two</group></item></query></iq>",
    b"<presence>\n  <show>away</show>\n  <status>out\nand about</status>\n</presence>",
    b"<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
    b"<message><body xmlns=''>no namespace</body></message>",
]


def _shape(node):
    if isinstance(node, str):
        return ("text", str(node))
    return (node.uri, node.name, node.defaultUri, dict(node.localPrefixes),
            list(node.attributes.items()), [_shape(c) for c in node.children],
            node.parent is not None)


def _parse(stream, data):
    elements, ended = [], []
    stream.DocumentStartEvent = lambda root: elements.append(("root", _shape(root)))
    stream.ElementEvent = lambda element: elements.append(_shape(element))
    stream.DocumentEndEvent = lambda: ended.append(True)
    # Byte by byte as well as whole: expat splits text where reads end.
    for start in range(0, len(data), 7):
        stream.parse(data[start:start + 7])
    return elements, ended


def test_stanzas_parse_to_the_trees_domish_builds():
    data = HEADER + b"".join(STANZAS) + b"</stream:stream>"
    ours = _parse(HardenedElementStream(), data)
    theirs = _parse(domish.ExpatElementStream(), data)
    assert ours == theirs
    assert len(ours[0]) == len(STANZAS) + 1 and ours[1] == [True]


def _serialised(stream, data):
    elements = []
    stream.DocumentStartEvent = lambda root: None
    stream.ElementEvent = elements.append
    stream.parse(data)
    return [element.toXml() for element in elements]


def test_parsed_elements_serialise_as_domish_parsed_ones():
    data = HEADER + b"".join(STANZAS)
    ours = _serialised(HardenedElementStream(), data)
    assert ours == _serialised(domish.ExpatElementStream(), data)
    assert len(ours) == len(STANZAS)


def test_a_parsed_child_has_its_parent_for_as_long_as_the_stanza_is_held():
    elements = []
    stream = HardenedElementStream()
    stream.DocumentStartEvent = lambda root: None
    stream.ElementEvent = elements.append
    stream.parse(HEADER + b"<message><body>hi</body><x xmlns='urn:x'><y/></x></message>")
    (message,) = elements
    body, x = message.elements()
    assert body.parent is message and x.parent is message
    assert next(x.elements()).parent is x
    added = message.addElement("thread")
    assert added.parent is message
    moved = domish.Element((None, "wrapper"))
    moved.addChild(body)
    assert body.parent is moved
    body.parent = None
    assert body.parent is None
