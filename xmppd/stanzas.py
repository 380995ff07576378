"""
The RFC 6120 §8 rules a stanza from a client must pass before it is routed,
and the small classifications of stanzas that sessions and modules share:
copies, the direction of a presence, and annotations (what modules note on
a stanza while it is routed, each under a key of its own).
"""

from datetime import datetime, timezone

from twisted.words.protocols.jabber import error
from twisted.words.protocols.jabber.jid import InvalidFormat, JID
from twisted.words.xish import domish
from twisted.words.xish.domish import escapeToXml

from xmppd.c2s.serialize import toXml

from xmppd.jidprep import internJID, preparedForms

NS_CLIENT = "jabber:client"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_SESSION = "urn:ietf:params:xml:ns:xmpp-session"
NS_DELAY = "urn:xmpp:delay"
STANZA_NAMES = ("iq", "message", "presence")
IQ_TYPES = ("get", "set", "result", "error")
MESSAGE_TYPES = ("chat", "error", "groupchat", "headline", "normal")
PRESENCE_TYPES = ("error", "probe", "subscribe", "subscribed", "unavailable",
                  "unsubscribe", "unsubscribed")
SUBSCRIPTION_TYPES = ("subscribe", "subscribed", "unsubscribe", "unsubscribed")
NS_CHATSTATES = "http://jabber.org/protocol/chatstates"


def stanzaError(stanza, condition, errorType=None, text=None):
    """The RFC 6120 §8.3 error reply: swapped addresses, payload kept, error last."""
    return error.StanzaError(condition, type=errorType, text=text).toResponse(stanza)


def copyStanza(stanza):
    """A shallow copy: the same name, attributes and children, none of the annotations."""
    copy = domish.Element((stanza.uri, stanza.name), stanza.defaultUri)
    copy.attributes.update(stanza.attributes)
    for child in stanza.children:
        copy.addChild(child)
    return copy


def formatStamp(microseconds):
    """XEP-0082 date-time in UTC, to the microsecond."""
    global _stampSecond
    seconds = microseconds // 1_000_000
    # One tuple, read once: a thread that formats another second meanwhile
    # replaces it whole.
    cached = _stampSecond
    if cached[0] != seconds:
        # datetime and strftime cost more than the rest of a stored
        # message's copy; every message of the same second shares them.
        moment = datetime.fromtimestamp(seconds, timezone.utc)
        cached = _stampSecond = (seconds, moment.strftime("%Y-%m-%dT%H:%M:%S"))
    return cached[1] + ".%06dZ" % (microseconds % 1_000_000)


_stampSecond = (None, None)

OFFLINE_STORAGE = "Offline Storage"
# The delay element as domish writes it alone: its namespace declared,
# attributes in the order set, domish's quoting.
_DELAY = "<delay xmlns='%s' from='%%s' stamp='%%s'>%s</delay>" % (NS_DELAY, OFFLINE_STORAGE)


def offlineCopy(stanza, domain, storedAt):
    """
    A stored message as offline storage hands it out (SPEC §2): the stanza
    as routed, serialised, with the server's XEP-0203 ``<delay/>`` of the
    moment it was stored, last. Whoever keeps the queue builds it with this
    one function, so that a queue which keeps only the stanza (or a
    reference to an archived one) and adds the delay when it is read gives
    back the very bytes the offline module stored. ``stanza`` is that
    serialisation, or the element itself (serialised here, as alone).
    """
    stanzaXml = stanza if isinstance(stanza, str) else serializedAlone(stanza)
    delay = _DELAY % (escapeToXml(domain, 1), formatStamp(storedAt))
    if stanzaXml.endswith("/>"):
        name = stanzaXml[1:].split(None, 1)[0].split("/", 1)[0]
        return "%s>%s</%s>" % (stanzaXml[:-2], delay, name)
    end = stanzaXml.rindex("</")
    return stanzaXml[:end] + delay + stanzaXml[end:]


def serializedAlone(stanza):
    """
    ``copyStanza(stanza).toXml()``, without the copy: the stanza's own
    prefix declarations, which the copy would not carry, are the one case
    where the two differ, and that case takes the copy.
    """
    if stanza.localPrefixes:
        return copyStanza(stanza).toXml()
    return toXml(stanza, "", {})


# Annotations ----------------------------------------------------------------
#
# A module that must remember something about a stanza while it travels
# (AMP's parsed rules, between validation and the routing verdict) writes it
# here under its own key instead of setting an attribute on the element,
# where it could shadow a child element's name or another module's note.

_ANNOTATIONS = "_xmppdAnnotations"
# The core's own key: the server did the outbound processing of this
# stanza (roster, directed presence) and routes it on as itself.
ROUTED_BY_SERVER = "xmppd/routed-by-server"
# The moment (µs since the epoch) after which a message must not be
# delivered, noted by whoever knows it (AMP's expire-at, XEP-0079 §3.3.2)
# for whoever stores it, even when it is routed again.
EXPIRES_AT = "xmppd/expires-at"


def annotate(stanza, key, value):
    """Note ``value`` on ``stanza`` under ``key`` (a string naming its module)."""
    notes = stanza.__dict__.get(_ANNOTATIONS)
    if notes is None:
        notes = stanza.__dict__[_ANNOTATIONS] = {}
    notes[key] = value


def annotation(stanza, key, default=None):
    """What was noted on ``stanza`` under ``key``, or ``default``."""
    notes = stanza.__dict__.get(_ANNOTATIONS)
    # Asked on every routed message (AMP's rules), which mostly has none.
    return default if notes is None else notes.get(key, default)


def annotated(stanza):
    """Whether any module noted something on ``stanza``."""
    return bool(stanza.__dict__.get(_ANNOTATIONS))


def routeAsServer(host, stanza):
    """Route a stanza whose outbound processing is done, towards its recipient."""
    annotate(stanza, ROUTED_BY_SERVER, True)
    host.send(stanza)


def outboundSession(host, stanza):
    """
    The local session a stanza still has to be processed for as outbound,
    or None when it is inbound: from elsewhere, or already processed and
    routed on by this server (``routeAsServer``).
    """
    if annotation(stanza, ROUTED_BY_SERVER, False) or not stanza.getAttribute("from"):
        return None
    sender = JID(stanza["from"])
    if not sender.resource:
        return None
    return host.sessions.get(sender)


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
    # Shared and memoised: checked on every stanza a client sends.
    return internJID(value)


def isLegacySessionRequest(stanza):
    if stanza.name != "iq" or stanza.getAttribute("type") != "set":
        return False
    if stanza.getAttribute("to") not in (None, stanza["from"].split("/")[0]):
        return False
    child = next(stanza.elements(), None)
    return child is not None and (child.uri, child.name) == (NS_SESSION, "session")


def checkStanza(stanza, name, attributes):
    """
    An RFC 6120 §8.3.3 (condition, type, text) for a bad stanza, or None;
    ``name`` and ``attributes`` are the stanza's own, read once by its session.
    """
    kind = attributes.get("type")
    to = attributes.get("to")
    if to is not None:
        # JID("") is a RuntimeError in Twisted, not an invalid address.
        if not to:
            return ("jid-malformed", "modify", "invalid 'to' address")
        try:
            # Shared and memoised: the same few addresses, message after message.
            attributes["to"] = preparedForms(to)[0]
        except (InvalidFormat, UnicodeError, ValueError):
            return ("jid-malformed", "modify", "invalid 'to' address")
    if name == "message":
        if kind is not None and kind not in MESSAGE_TYPES:
            return ("bad-request", "modify", "unknown message type")
        return None
    if name == "iq":
        if kind not in IQ_TYPES:
            return ("bad-request", "modify", "iq type must be get, set, result or error")
        if not stanza.getAttribute("id"):
            return ("bad-request", "modify", "iq without id")
        if kind in ("get", "set") and len(list(stanza.elements())) != 1:
            return ("bad-request", "modify", "a get or set iq has exactly one child")
    elif kind is not None and kind not in PRESENCE_TYPES:
        return ("bad-request", "modify", "unknown presence type")
    return None


def parsePriority(presence):
    """The priority of a presence, clamped to RFC 6121 §4.7.2.3's range."""
    for child in presence.elements():
        if child.name == "priority":
            try:
                return max(-128, min(127, int(str(child).strip())))
            except ValueError:
                return 0
    return 0
