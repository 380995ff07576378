"""
The receiving side of an RFC 6120 XML stream, hardened for the open network.

Twisted's XmlStream parses whatever expat accepts. A server must refuse more
(RFC 6120 §11.1): DTDs, entity declarations, processing instructions and
comments are ``restricted-xml``; a malformed document is ``not-well-formed``;
a stanza larger than the configured limit, or nested deeper than the depth
limit, is ``policy-violation``. Each of these ends the stream with the right
stream error instead of a silent drop.

Stream restarts (after STARTTLS and after SASL success, RFC 6120 §5.4.3.3
and §6.4.6) replace the parser. The old parser is still inside its
``Parse()`` call when the negotiator restarts the stream, with the rest of
the client's TCP read in its buffer; those bytes were sent before the new
stream header, so they must never be executed on the new stream (the
CVE-2011-0411 class of STARTTLS command injection). The old parser is
therefore poisoned: its next element event raises, and the rest of the read
is discarded or answered with a stream error (``pipelinedBeforeRestart``).
"""

import weakref
import pyexpat

from twisted.python import log
from twisted.words.protocols.jabber import error, xmlstream
from twisted.words.xish import domish
from twisted.words.xish import xmlstream as xish

NS_STREAMS = xmlstream.NS_STREAMS
NS_CLIENT = "jabber:client"
NS_XML = "http://www.w3.org/XML/1998/namespace"
# What a client's stream header declares by prefix, nothing else: the
# stream's own namespace, as on every stream the server writes.
PLAIN_ROOT_PREFIXES = {"stream": NS_STREAMS}
STREAM_ERROR_QUERY = "/error[@xmlns='%s']" % NS_STREAMS


class RestrictedXML(Exception):
    """The peer sent a construct that RFC 6120 §11.1 forbids on a stream."""


class StanzaTooDeep(Exception):
    """A stanza nests elements deeper than ``maxStanzaDepth``."""


class StreamSuperseded(Exception):
    """The peer sent an element to a parser that a stream restart replaced."""


def _refuse(*args):
    raise RestrictedXML()


def _superseded(*args):
    raise StreamSuperseded()


def _ignore(*args):
    pass


_newElement = object.__new__
# expat's "uri name" of an element, split once: the same few names come in
# every stanza. At most this many are kept, so that a client inventing
# names cannot grow it; past it a name is split each time.
MAX_SPLIT_NAMES = 1024
_splitNames = {}
_weakReference = weakref.ref
# A message's start tag up to its attributes (where the server's ``from``
# goes), and its end tag as nearly every client writes it.
MESSAGE_OPENING = b"<message"
MESSAGE_END = b"</message>"
_OPENING_LENGTH, _END_LENGTH = len(MESSAGE_OPENING), len(MESSAGE_END)


class ParsedElement(domish.Element):
    """
    A domish Element as the client stream's parser builds it, holding its
    parent weakly.

    domish links a child to its parent (``child.parent``) and the parent to
    the child (``children``): every stanza with a child element is a
    reference cycle, which reference counting never frees. Routing live
    messages then left each stanza's elements for the cycle collector, a
    young collection every few thousand messages that walked and freed them
    all at once (7% of the server's time). Held weakly, the parent is still
    there for as long as anyone holds the stanza, and the whole tree goes
    the moment its last holder lets go.
    """

    _parentRef = None

    @property
    def parent(self):
        reference = self._parentRef
        return None if reference is None else reference()

    @parent.setter
    def parent(self, parent):
        self._parentRef = None if parent is None else _weakReference(parent)

    # A stanza whose text the parser kept (``HardenedElementStream``) is
    # written from that text while it is as parsed. Its own attributes and
    # children are compared with what was parsed when it is written; a
    # change below it, made through domish's methods, forgets the text of
    # every element above.

    def addChild(self, node):
        _changed(self)
        return domish.Element.addChild(self, node)

    def addContent(self, text):
        _changed(self)
        return domish.Element.addContent(self, text)

    def addRawXml(self, rawxmlstring):
        _changed(self)
        return domish.Element.addRawXml(self, rawxmlstring)

    def addUniqueId(self):
        _changed(self)
        return domish.Element.addUniqueId(self)

    def __setitem__(self, key, value):
        _changed(self)
        domish.Element.__setitem__(self, key, value)

    def __delitem__(self, key):
        _changed(self)
        domish.Element.__delitem__(self, key)

    def swapAttributeValues(self, left, right):
        _changed(self)
        domish.Element.swapAttributeValues(self, left, right)


def _changed(element):
    """Forget the kept text of ``element`` and of every element holding it."""
    while element is not None:
        fields = element.__dict__
        fields.pop("_keptText", None)
        element = element.parent if isinstance(element, ParsedElement) else fields.get("parent")


def _onlyXMLQualified(attrs):
    """Whether every qualified attribute is in the xml namespace, always bound to its prefix."""
    return all(type(key) is not tuple or key[0] == NS_XML for key in attrs)


def _qualifiedAttributes(attrs):
    """
    expat's "uri name" attribute keys as domish's (uri, name) tuples,
    after the unqualified ones, in domish's order.
    """
    plain = {k: v for k, v in attrs.items() if " " not in k}
    plain.update({tuple(k.rsplit(" ", 1)): v for k, v in attrs.items() if " " in k})
    return plain


class HardenedElementStream(domish.ExpatElementStream):
    """
    Twisted's expat element stream with a bound on nesting depth.

    Serialising, copying or matching an element is recursive, so a stanza
    nested a thousand deep raises RecursionError wherever it goes (a stored
    subscription request once blocked its recipient's offline delivery at
    every login). It is refused here, before it is an element anyone holds.
    """

    maxStanzaDepth = 64

    def __init__(self):
        # domish.ExpatElementStream.__init__'s state, with a parser of our own
        # instead of the one it would make (and this one then replace).
        self.DocumentStartEvent = None
        self.ElementEvent = None
        self.DocumentEndEvent = None
        self.error = pyexpat.error
        # Without expat's intern dictionary: pyexpat would decode, hash, look
        # up and free a copy of every element and attribute name it reports,
        # and the names go into dicts that hash them anyway.
        parser = self.parser = pyexpat.ParserCreate("UTF-8", " ", intern=None)
        parser.StartElementHandler = self._onStartElement
        parser.EndElementHandler = self._onEndElement
        parser.CharacterDataHandler = self._onCdata
        parser.StartNamespaceDeclHandler = self._onStartNamespace
        parser.EndNamespaceDeclHandler = self._onEndNamespace
        self.currElem = None
        self.defaultNsStack = [""]
        self.documentStarted = 0
        self.localPrefixes = {}
        self.elementCount = 0
        self.stanzaSize = 0
        # The stanza's elements now open, outermost first: they hold one
        # another while it is parsed, since a child holds its parent weakly.
        self.openElements = []
        self.stanzaStart = 0
        # The read being parsed and where it starts in the stream, for the
        # stanza text kept when ``keepsText``.
        self.chunk = None
        self.chunkStart = 0
        self.keepsText = False
        self.keepingText = False
        parser.StartDoctypeDeclHandler = _refuse
        parser.EntityDeclHandler = _refuse
        parser.UnparsedEntityDeclHandler = _refuse
        parser.NotationDeclHandler = _refuse
        parser.ProcessingInstructionHandler = _refuse
        parser.CommentHandler = _refuse
        parser.ExternalEntityRefHandler = _refuse

    def parse(self, buffer):
        """
        domish's, holding the read while expat parses it: a stanza's text
        is kept from it (``keepsText``).
        """
        if type(buffer) is not bytes:
            # expat counts the bytes of a str's encoding: nothing is kept.
            self.keepsText = False
        self.chunk = buffer
        self.stanzaSize += len(buffer)
        try:
            self.parser.Parse(buffer)
        except self.error as e:
            raise domish.ParserError(str(e))
        self.chunk = None
        self.chunkStart += len(buffer)
        if self.stanzaSize > self.maxStanzaSize:
            raise domish.ParserError("Maximum stanza size exceeded")

    def _onStartElement(self, name, attrs):
        if not self.documentStarted:
            if self.keepsText:
                # A stanza's text means the same on another client stream
                # only if the header bound no prefix but the stream's own:
                # one that the stanza uses without declaring it would be
                # unbound there. (The stanza's own declarations are seen
                # below.)
                self.keepsText = (self.localPrefixes == PLAIN_ROOT_PREFIXES
                                  and self.defaultNsStack[-1] == NS_CLIENT)
            return domish.ExpatElementStream._onStartElement(self, name, attrs)
        # Depth 1 is a stanza, a direct child of the stream root.
        stack = self.openElements
        depth = len(stack) + 1
        if depth > self.maxStanzaDepth:
            raise StanzaTooDeep()
        if depth == 1:
            self.stanzaStart = self.parser.CurrentByteIndex
            self.keepingText = self.keepsText
        self.elementCount += 1
        if self.elementCount > self.maxElementCount:
            raise domish.ParserError("Maximum element count exceeded")
        # What domish's handler and Element() do, in one call per element
        # instead of three: every element of every stanza comes through here.
        split = _splitNames.get(name)
        if split is None:
            split = name.rpartition(" ")
            if len(_splitNames) < MAX_SPLIT_NAMES:
                _splitNames[name] = split
        uri, _, local = split
        for key in attrs:
            if " " in key:
                attrs = _qualifiedAttributes(attrs)
                if not _onlyXMLQualified(attrs):
                    self.keepingText = False
                break
        element = _newElement(ParsedElement)
        localPrefixes = self.localPrefixes
        defaultUri = self.defaultNsStack[-1]
        if localPrefixes:
            self.keepingText = False
            self.localPrefixes = {}
            if defaultUri is None and uri not in localPrefixes.values():
                defaultUri = uri
        else:
            localPrefixes = {}
            if defaultUri is None:
                defaultUri = uri
        if uri != defaultUri:
            # A name with a prefix.
            self.keepingText = False
        element.localPrefixes = localPrefixes
        element.uri = uri
        element.name = local
        element.defaultUri = defaultUri
        element.attributes = attrs
        element.children = []
        if stack:
            parent = stack[-1]
            element._parentRef = _weakReference(parent)
            parent.children.append(element)
        stack.append(element)
        self.currElem = element

    def _onEndElement(self, name):
        stack = self.openElements
        if not stack:
            # The stream's own closing tag.
            return self.DocumentEndEvent()
        current = stack.pop()
        if stack:
            self.currElem = stack[-1]
            return
        end = self.parser.CurrentByteIndex
        if end - self.stanzaStart > self.maxStanzaSize:
            # Twisted counts the bytes of each read, and a whole stanza
            # inside one read (up to 64 KiB) escapes that count.
            raise domish.ParserError("Maximum stanza size exceeded")
        start = self.stanzaStart - self.chunkStart
        if self.keepingText and start >= 0:
            # A message's text, for xmppd.c2s.serialize.toBytes, if it
            # began in this read (one split across reads is not kept) and
            # has an end tag (at ``end``): the bytes after ``<message`` and,
            # when the client wrote no ``from``, that opening, where the
            # server's goes; with what it has now, to compare with when it
            # is written. (Only messages: what a server sends on as it
            # came, and not held for a session's life as its presence is.)
            fields = current.__dict__
            children = fields["children"]
            if children and fields["name"] == "message":
                chunk = self.chunk
                # The end tag as nearly every client writes it, else up
                # to its first '>'.
                end -= self.chunkStart
                close = end + _END_LENGTH
                if chunk[close - 1] != 62:
                    close = chunk.index(b">", end) + 1
                attributes = fields["attributes"]
                if "from" in attributes:
                    fields["_keptText"] = (None, chunk[start:close], attributes.copy(),
                                           children, len(children))
                else:
                    fields["_keptText"] = (MESSAGE_OPENING, chunk[start + _OPENING_LENGTH:close],
                                           attributes.copy(), children, len(children))
        # As domish: the stanza is handed on before the counts start again.
        self.ElementEvent(current)
        self.currElem = None
        self.elementCount = 0
        self.stanzaSize = 0

    def _onCdata(self, data):
        current = self.currElem
        if current is not None:
            children = current.children
            if children and type(children[-1]) is str:
                children[-1] += data
            else:
                children.append(data)

    def supersede(self):
        """Make every later element event of this parser raise StreamSuperseded."""
        parser = self.parser
        parser.StartElementHandler = _superseded
        parser.EndElementHandler = _superseded
        parser.CharacterDataHandler = _ignore
        # No handler of the old parser refers back to its stream: the pair
        # goes by reference counting once the read is done, instead of
        # waiting, expat's buffers and all, for a late collection of cycles.
        parser.StartNamespaceDeclHandler = parser.EndNamespaceDeclHandler = _ignore
        self.DocumentStartEvent = self.ElementEvent = self.DocumentEndEvent = _ignore


class HardenedXmlStream(xmlstream.XmlStream):
    """
    An XmlStream whose parser refuses restricted XML, oversized and overdeep
    stanzas, and anything pipelined across a stream restart.

    ``maxStanzaSize`` is counted by Twisted's parser from the end of one
    top-level element to the end of the next, so a client can neither send
    one huge stanza nor hold the parser's buffer open with an endless one.
    """

    maxStanzaSize = 256 * 1024
    maxStanzaDepth = HardenedElementStream.maxStanzaDepth
    # Whether the parser keeps each stanza's text (a client stream's: what
    # it writes to another client is written from it, see xmppd.c2s.serialize).
    keepsStanzaText = False
    # Set by restartStream: what the bytes after the restart point are.
    _restartedAfter = None
    # Set once our closing tag or stream error is sent: nothing more is read.
    _closing = False
    _streamErrorObserved = False

    def _initializeStream(self):
        stream = HardenedElementStream()
        stream.DocumentStartEvent = self.onDocumentStart
        stream.ElementEvent = self.onElement
        stream.DocumentEndEvent = self.onDocumentEnd
        stream.maxStanzaSize = self.maxStanzaSize
        stream.maxStanzaDepth = self.maxStanzaDepth
        stream.keepsText = self.keepsStanzaText
        self.stream = stream

    def onDocumentStart(self, rootElement):
        """
        Twisted's, but the one-time observer of the peer's stream error is
        added at the first header only. A restart (after STARTTLS, after
        SASL) keeps the stream's observers, and Twisted added another at
        every header: three per login, each kept until the stream ended,
        and a stream error from the client was handled three times.
        """
        xish.XmlStream.onDocumentStart(self, rootElement)
        if not self._streamErrorObserved:
            self._streamErrorObserved = True
            self.addOnetimeObserver(STREAM_ERROR_QUERY, self.onStreamError)
        self.authenticator.streamStarted(rootElement)

    def setStanzaSizeLimit(self, size):
        """Change the limit for the next stanzas (it grows after authentication)."""
        self.maxStanzaSize = size
        if self.stream is not None:
            self.stream.maxStanzaSize = size

    def restartStream(self, after):
        """
        Start a new stream with a new parser; ``after`` names the step
        ("starttls" or "sasl") for the log and for what pipelined data gets.
        """
        old = self.stream
        self.reset()
        self._restartedAfter = after
        if isinstance(old, HardenedElementStream):
            old.supersede()

    def dataReceived(self, data):
        stream = self.stream
        if stream is None:
            return
        try:
            if self.rawDataInFn:
                self.rawDataInFn(data)
            stream.parse(data)
        except Exception as e:
            if stream is not self.stream and self.stream is not None:
                # Whatever the old parser made of the rest of this read, it
                # was sent before the new stream header.
                return self.pipelinedBeforeRestart(self._restartedAfter)
            self.refuseInput(e)

    def refuseInput(self, e):
        """The stream error for input the parser refused."""
        if isinstance(e, RestrictedXML):
            self.sendStreamError(error.StreamError("restricted-xml"))
        elif isinstance(e, StanzaTooDeep):
            self.sendStreamError(error.StreamError(
                "policy-violation", text="stanza nested deeper than %d" % self.maxStanzaDepth))
        elif isinstance(e, domish.ParserError):
            if "Maximum stanza size" in str(e) or "Maximum element count" in str(e):
                self.sendStreamError(error.StreamError(
                    "policy-violation", text="stanza too large"))
            else:
                self.sendStreamError(error.StreamError("not-well-formed"))
        else:
            raise e

    def pipelinedBeforeRestart(self, after):
        """
        The client sent elements after STARTTLS or SASL success and before
        the new stream header. After STARTTLS they came in plaintext, from
        whoever sits on the path, and the TLS handshake is under way, so
        they are discarded (as Postfix does for CVE-2011-0411): the stream
        that follows the handshake starts from nothing. After SASL success
        the stream gets ``policy-violation``.
        """
        log.msg("c2s %s: data pipelined after %s, %s" % (
            getattr(self, "peerAddress", "?"), after,
            "discarded" if after == "starttls" else "closed"))
        if after != "starttls":
            self.sendStreamError(error.StreamError(
                "policy-violation", text="data sent before the stream restart"))

    def sendStreamError(self, streamError):
        """Send a stream error once, then stop parsing what the peer sends."""
        if self.stream is None or getattr(self, "_closing", False):
            return
        self._closing = True
        xmlstream.XmlStream.sendStreamError(self, streamError)
        # Nothing after a stream error may be processed (RFC 6120 §4.9.1.1).
        self.stream = None

    def onDocumentEnd(self):
        """The peer closed its stream: close ours too, then the TCP connection."""
        if not getattr(self, "_closing", False):
            self._closing = True
            self.sendFooter()
        self.transport.loseConnection()
