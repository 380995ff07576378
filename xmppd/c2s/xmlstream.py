"""
The receiving side of an RFC 6120 XML stream, hardened for the open network.

Twisted's XmlStream parses whatever expat accepts. A server must refuse more
(RFC 6120 §11.1): DTDs, entity declarations, processing instructions and
comments are ``restricted-xml``; a malformed document is ``not-well-formed``;
a stanza larger than the configured limit is ``policy-violation``. Each of
these ends the stream with the right stream error instead of a silent drop.
"""

from twisted.words.protocols.jabber import error, xmlstream
from twisted.words.xish import domish

NS_STREAMS = xmlstream.NS_STREAMS
NS_CLIENT = "jabber:client"


class RestrictedXML(Exception):
    """The peer sent a construct that RFC 6120 §11.1 forbids on a stream."""


def _refuse(*args):
    raise RestrictedXML()


class HardenedXmlStream(xmlstream.XmlStream):
    """
    An XmlStream whose parser refuses restricted XML and oversized stanzas.

    ``maxStanzaSize`` is counted by Twisted's parser from the end of one
    top-level element to the end of the next, so a client can neither send
    one huge stanza nor hold the parser's buffer open with an endless one.
    """

    maxStanzaSize = 256 * 1024

    def _initializeStream(self):
        xmlstream.XmlStream._initializeStream(self)
        self.stream.maxStanzaSize = self.maxStanzaSize
        parser = self.stream.parser
        parser.StartDoctypeDeclHandler = _refuse
        parser.EntityDeclHandler = _refuse
        parser.UnparsedEntityDeclHandler = _refuse
        parser.NotationDeclHandler = _refuse
        parser.ProcessingInstructionHandler = _refuse
        parser.CommentHandler = _refuse
        parser.ExternalEntityRefHandler = _refuse

    def dataReceived(self, data):
        if self.stream is None:
            return
        try:
            if self.rawDataInFn:
                self.rawDataInFn(data)
            self.stream.parse(data)
        except RestrictedXML:
            self.sendStreamError(error.StreamError("restricted-xml"))
        except domish.ParserError as e:
            if "Maximum stanza size" in str(e) or "Maximum element count" in str(e):
                self.sendStreamError(error.StreamError(
                    "policy-violation", text="stanza too large"))
            else:
                self.sendStreamError(error.StreamError("not-well-formed"))

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
