"""
The server's IQ results to a client, as the text its stream writes.

A login is answered three times this way (bind, roster get, ping). Built
with ``toResponse`` and serialised, each answer cost about 40k instructions
in element construction and serialisation -- domish's ``__getattr__`` sends
every attribute read of an element down CPython's slow path -- for a few
bytes that are the same but for the addresses and the id.
"""

from twisted.words.xish.domish import escapeToXml

from xmppd.c2s.serialize import toXml
from xmppd.c2s.xmlstream import NS_CLIENT, NS_STREAMS

# What a client stream's serialiser is given (see ClientStream.send).
_STREAM_PREFIXES = {NS_STREAMS: "stream"}


def resultText(iq, payload=None):
    """
    ``toResponse(iq, "result")`` with ``payload`` (an element, or its XML
    text) as its child, byte for byte as a client stream writes it.
    """
    try:
        attributes = iq.__dict__["attributes"]
    except KeyError:
        # An element that keeps its attributes elsewhere.
        attributes = iq.attributes
    to = attributes.get("from")
    sender = attributes.get("to")
    stanzaId = attributes.get("id")
    text = "<iq"
    if to:
        text += " to='%s'" % _escaped(to)
    if sender:
        text += " from='%s'" % _escaped(sender)
    if stanzaId:
        text += " id='%s'" % _escaped(stanzaId)
    if payload is None:
        return text + " type='result'/>"
    if type(payload) is not str:
        payload = toXml(payload, NS_CLIENT, _STREAM_PREFIXES)
    return text + " type='result'>" + payload + "</iq>"


def _escaped(value):
    if "&" in value or "<" in value or ">" in value or "'" in value or '"' in value:
        return escapeToXml(value, 1)
    return value
