"""
The RFC 6120 §8 rules a stanza from a client must pass before it is routed,
and the small classifications of stanzas that sessions and modules share.
"""

from twisted.words.protocols.jabber import error
from twisted.words.protocols.jabber.jid import InvalidFormat, JID

NS_CLIENT = "jabber:client"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_SESSION = "urn:ietf:params:xml:ns:xmpp-session"
NS_DELAY = "urn:xmpp:delay"
STANZA_NAMES = ("iq", "message", "presence")
IQ_TYPES = ("get", "set", "result", "error")
MESSAGE_TYPES = ("chat", "error", "groupchat", "headline", "normal")
PRESENCE_TYPES = ("error", "probe", "subscribe", "subscribed", "unavailable",
                  "unsubscribe", "unsubscribed")
NS_CHATSTATES = "http://jabber.org/protocol/chatstates"


def stanzaError(stanza, condition, errorType=None, text=None):
    """The RFC 6120 §8.3 error reply: swapped addresses, payload kept, error last."""
    return error.StanzaError(condition, type=errorType, text=text).toResponse(stanza)


def isMessage(stanza):
    return isinstance(stanza, str) or stanza.name == "message"


def canWait(stanza):
    """Presence, and messages that are only a chat state: nothing a user waits for."""
    if stanza.name == "presence":
        return True
    if stanza.name != "message" or stanza.getAttribute("type") == "error":
        return False
    children = [c for c in stanza.elements()]
    return bool(children) and all(c.uri == NS_CHATSTATES for c in children)


def jidFromAttribute(value):
    # JID("") is a RuntimeError in Twisted, not an invalid address.
    if not value:
        raise InvalidFormat("empty address")
    return JID(value)


def isLegacySessionRequest(stanza):
    if stanza.name != "iq" or stanza.getAttribute("type") != "set":
        return False
    if stanza.getAttribute("to") not in (None, stanza["from"].split("/")[0]):
        return False
    child = next(stanza.elements(), None)
    return child is not None and (child.uri, child.name) == (NS_SESSION, "session")


def checkStanza(stanza):
    """An RFC 6120 §8.3.3 (condition, type, text) for a bad stanza, or None."""
    kind = stanza.getAttribute("type")
    to = stanza.getAttribute("to")
    if to is not None:
        try:
            stanza["to"] = jidFromAttribute(to).full()
        except (InvalidFormat, UnicodeError, ValueError):
            return ("jid-malformed", "modify", "invalid 'to' address")
    if stanza.name == "iq":
        if kind not in IQ_TYPES:
            return ("bad-request", "modify", "iq type must be get, set, result or error")
        if not stanza.getAttribute("id"):
            return ("bad-request", "modify", "iq without id")
        if kind in ("get", "set") and len(list(stanza.elements())) != 1:
            return ("bad-request", "modify", "a get or set iq has exactly one child")
    elif stanza.name == "message":
        if kind is not None and kind not in MESSAGE_TYPES:
            return ("bad-request", "modify", "unknown message type")
    elif kind is not None and kind not in PRESENCE_TYPES:
        return ("bad-request", "modify", "unknown presence type")
    return None
