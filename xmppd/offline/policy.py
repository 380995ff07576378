"""
The offline decision (SPEC §2): for a message no resource can take, whether
it is stored, bounced or dropped, and why.

Rules 1 and 3–6 look only at the stanza and are answered here, synchronously;
the limits (rule 7) need the database and are pre-checked by the service
before the atomic insert has the last word. The reasons are stable strings:
AMP reads them to tell ``deliver=stored`` from ``deliver=none``, and the
metrics label drops and bounces with them.
"""

from xmppd.offline.matchers import firstMatch

NS_HINTS = "urn:xmpp:hints"
NS_CHATSTATES = "http://jabber.org/protocol/chatstates"
NS_RECEIPTS = "urn:xmpp:receipts"
NS_EVENT = "jabber:x:event"
NS_EXPIRE = "jabber:x:expire"
NS_CLIENT = "jabber:client"

# Children that carry nothing worth waking a user for (SPEC §2 rule 6).
# XEP-0023 expiry says how to handle a message; alone it is no content.
_EPHEMERAL_NAMESPACES = frozenset([
    NS_CHATSTATES, NS_HINTS, "urn:xmpp:delay", "jabber:x:delay", "urn:xmpp:sid:0",
    "jabber:x:expire",
])
NS_AMP = "http://jabber.org/protocol/amp"

# A XEP-0023 expiry further away than this is clamped to it: it is "never"
# in practice, and a larger one would overflow a 64-bit column of µs.
MAX_EXPIRE_SECONDS = 100 * 365 * 86400

QUEUE_FULL_TEXT = "Offline messages queue is full"
DISABLED_TEXT = "Bounce offline message"
FAILED_TEXT = "Offline storage failed"


class Decision:
    """
    What happens to one offline message.

    ``store``: it goes to storage. ``reason``: why (see the module doc).
    ``bounce``: the sender gets an error, described by ``condition``,
    ``errorType`` and ``text``; otherwise a message not stored is dropped
    silently. ``pairLimit``/``userLimit`` are the limits the insert enforces.
    """

    def __init__(self, store, reason, bounce=False, condition="service-unavailable",
                 errorType="cancel", text=None):
        self.store = store
        self.reason = reason
        self.bounce = bounce
        self.condition = condition
        self.errorType = errorType
        self.text = text
        self.pairLimit = None
        self.userLimit = None
        self.expiresAt = None

    def __repr__(self):
        return "<Decision store=%s reason=%s bounce=%s>" % (self.store, self.reason, self.bounce)


def stored(reason):
    return Decision(True, reason)


def dropped(reason):
    return Decision(False, reason)


def bounced(reason, text=None, condition="service-unavailable", errorType="cancel"):
    return Decision(False, reason, True, condition, errorType, text)


def overQuota(limit, quotaExceeded):
    """Rule 7: ``quota-pair``/``quota-user``, bounced or dropped as configured."""
    reason = "quota-" + limit
    if quotaExceeded == "drop":
        return dropped(reason)
    return bounced(reason, QUEUE_FULL_TEXT)


def elementsOf(stanza):
    """
    The stanza's child elements, listed once for every rule that reads
    them: domish's ``elements()`` asks zope.interface of every child, each
    time, on the way of every stored message.
    """
    return [child for child in stanza.children if not isinstance(child, str)]


def eligibility(stanza, matchers, storeGroupchat, children=None):
    """
    Rules 1 and 3–6, in order: the first that decides, decides.
    ``children``: ``elementsOf(stanza)``, when the caller has it.
    """
    kind = stanza.getAttribute("type", "normal")
    if kind == "error":
        return dropped("error")
    match = firstMatch(matchers, stanza)
    if match is not None:
        return stored("matcher") if match.store else dropped("matcher")
    if children is None:
        children = elementsOf(stanza)
    if kind != "groupchat":
        hints = [child.name for child in children if child.uri == NS_HINTS]
        if "no-store" in hints:
            return dropped("no-store-hint")
        if "store" in hints:
            return stored("store-hint")
    if kind == "headline":
        return dropped("headline")
    if kind == "groupchat":
        if storeGroupchat:
            return stored("groupchat")
        return bounced("groupchat")
    if hasContent(stanza, children):
        return stored("content")
    return dropped("ephemeral")


def hasContent(stanza, children=None):
    """A non-empty body, or any child a user would want to see later."""
    for child in elementsOf(stanza) if children is None else children:
        if child.name == "body" and child.uri == NS_CLIENT:
            if str(child).strip():
                return True
            continue
        if not _isEphemeral(child):
            return True
    return False


def _isEphemeral(child):
    if child.uri in _EPHEMERAL_NAMESPACES:
        return True
    if child.uri == NS_AMP:
        # Rules are instructions; an AMP reply (with a status) is the payload.
        return not child.hasAttribute("status")
    if child.uri == NS_CLIENT and child.name == "thread":
        return True
    if child.uri == NS_RECEIPTS and child.name == "request":
        return True
    if child.uri == NS_EVENT:
        return not any(c.name == "offline" for c in child.elements())
    return False


def expiresAt(stanza, receivedAt, ampExpiresAt=None, children=None):
    """
    When a stored copy expires (µs), or None: the earlier of XEP-0023's
    ``seconds`` counted from reception and an AMP ``expire-at``.
    """
    candidates = [] if ampExpiresAt is None else [int(ampExpiresAt)]
    for child in elementsOf(stanza) if children is None else children:
        if child.uri == NS_EXPIRE and child.name == "x":
            text = child.getAttribute("seconds", "")
            if len(text) > 20:
                # Longer than any 64-bit number, so far beyond the clamp.
                text = str(MAX_EXPIRE_SECONDS) if text.isdigit() else ""
            try:
                seconds = int(text)
            except ValueError:
                continue
            if seconds >= 0:
                candidates.append(receivedAt + min(seconds, MAX_EXPIRE_SECONDS) * 1_000_000)
    return min(candidates) if candidates else None
