"""
XEP-0079 rules: parsing and validation (§2.2.1), condition evaluation (§3.3)
and the replies a fired rule sends back (§3.4, §6).

Everything here is pure: a rule set is evaluated against a ``Delivery``
(what routing or offline storage does with the message) and a clock value,
so the handler decides *when* to evaluate and this module only *what holds*.
"""

import calendar
import re

from twisted.words.protocols.jabber.error import StanzaError
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

NS_AMP = "http://jabber.org/protocol/amp"
NS_AMP_ERRORS = NS_AMP + "#errors"

ACTIONS = ("alert", "drop", "error", "notify")
CONDITIONS = ("deliver", "expire-at", "match-resource")
DELIVER_VALUES = ("direct", "forward", "gateway", "none", "stored")
MATCH_RESOURCE_VALUES = ("any", "exact", "other")

# The disco#info nodes of §2.1.1: the AMP node and one node per action and
# condition, each answering on its own.
ACTION_NODES = tuple("%s?action=%s" % (NS_AMP, action) for action in ACTIONS)
CONDITION_NODES = tuple("%s?condition=%s" % (NS_AMP, condition) for condition in CONDITIONS)

# What a Delivery says happens to the message (XEP-0079 §3.3.1).
DIRECT, STORED, NONE = "direct", "stored", "none"

# The most rules one message may carry: every rule may send a reply, so
# more would let one message make the server send thousands.
MAX_RULES = 16
# expire-at dates outside these years are refused as invalid rules: year
# 0000 is no date at all, and the µs of either bound fit 64 bits.
MIN_YEAR, MAX_YEAR = 1970, 9999

# XEP-0082 DateTime; XEP-0079 §3.3.2 requires the timezone to be UTC.
_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]00:00)$")


class AmpRule:
    """One ``<rule/>``: "do ``action`` if ``condition`` holds for ``value``"."""

    def __init__(self, action, condition, value):
        self.action = action
        self.condition = condition
        self.value = value
        # For expire-at: the moment it names, in µs since the epoch.
        self.expiresAt = None

    def toElement(self):
        """A fresh copy of the rule, as the sender wrote it, to quote in replies."""
        element = domish.Element((NS_AMP, "rule"))
        for name in ("action", "condition", "value"):
            value = getattr(self, name)
            if value is not None:
                element[name] = value
        return element

    def __repr__(self):
        return "<AmpRule %s if %s=%s>" % (self.action, self.condition, self.value)


class AmpRequest:
    """The validated ``<amp/>`` of a message: its rules in document order."""

    def __init__(self, rules, perHop=False):
        self.rules = rules
        self.perHop = perHop

    def expiresAt(self):
        """The earliest ``expire-at`` (µs), or None: when a stored copy must go."""
        moments = [rule.expiresAt for rule in self.rules if rule.condition == "expire-at"]
        return min(moments) if moments else None


class AmpInvalid(Exception):
    """
    A message whose AMP semantics this server refuses (§2.2.1, §8.1): a
    ``bad-request`` with one AMP-specific element naming the rules at issue.
    """

    def __init__(self, text=None, specific=None, rules=(), condition="bad-request"):
        Exception.__init__(self, text or specific)
        self.text = text
        self.specific = specific
        self.rules = list(rules)
        self.condition = condition

    def toResponse(self, message):
        """The error reply: addresses swapped, payload kept, ``<error/>`` last."""
        appCondition = None
        if self.specific is not None:
            appCondition = domish.Element((NS_AMP, self.specific))
            for rule in self.rules:
                appCondition.addChild(rule.toElement())
        return StanzaError(self.condition, type="modify", text=self.text,
                           appCondition=appCondition).toResponse(message)


def findAmp(message):
    for child in message.elements():
        if child.name == "amp" and child.uri == NS_AMP:
            return child
    return None


def parseDateTime(text):
    """A XEP-0082 UTC DateTime as µs since the epoch, or None if it is not one."""
    match = _DATETIME.match(text or "")
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction = (match.group(7) or "")[:6].ljust(6, "0")
    if not (MIN_YEAR <= year <= MAX_YEAR and 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]
            and hour <= 23 and minute <= 59 and second <= 60):
        return None
    seconds = calendar.timegm((year, month, day, hour, minute, min(second, 59), 0, 0, 0))
    return seconds * 1_000_000 + int(fraction)


def parseRequest(message):
    """
    Validate a message's ``<amp/>`` (XEP-0079 §2.2.1) and return its
    AmpRequest, or raise AmpInvalid. Every rule is checked before the answer,
    so the error lists all the offending rules of its kind.
    """
    amp = findAmp(message)
    if not message.getAttribute("id"):
        # §1.4: replies are matched to the request by its id.
        raise AmpInvalid("AMP requires the message to have an id")
    perHop = amp.getAttribute("per-hop", "false")
    if perHop not in ("true", "false"):
        raise AmpInvalid("per-hop must be 'true' or 'false'")
    rules, unsupportedActions, unsupportedConditions, invalid = [], [], [], []
    for element in amp.elements():
        if element.name != "rule" or element.uri != NS_AMP:
            continue
        if len(rules) == MAX_RULES:
            raise AmpInvalid("at most %d AMP rules per message" % MAX_RULES,
                             condition="not-acceptable")
        rule = AmpRule(element.getAttribute("action"), element.getAttribute("condition"),
                       element.getAttribute("value"))
        rules.append(rule)
        if rule.action not in ACTIONS:
            unsupportedActions.append(rule)
        elif rule.condition not in CONDITIONS:
            unsupportedConditions.append(rule)
        elif not _validValue(rule):
            invalid.append(rule)
    if unsupportedActions:
        raise AmpInvalid(specific="unsupported-actions", rules=unsupportedActions)
    if unsupportedConditions:
        raise AmpInvalid(specific="unsupported-conditions", rules=unsupportedConditions)
    if invalid:
        raise AmpInvalid(specific="invalid-rules", rules=invalid)
    if not rules:
        raise AmpInvalid("an amp element holds at least one rule")
    return AmpRequest(rules, perHop == "true")


def _validValue(rule):
    if rule.condition == "deliver":
        return rule.value in DELIVER_VALUES
    if rule.condition == "match-resource":
        return rule.value in MATCH_RESOURCE_VALUES
    rule.expiresAt = parseDateTime(rule.value)
    return rule.expiresAt is not None


class Delivery:
    """
    What happens to a message at this moment, for its rules to be tested
    against: ``DIRECT`` to the full JIDs ``resources``, ``STORED`` offline,
    or ``NONE`` (bounced, dropped, or storage refused it).
    """

    def __init__(self, kind, resources=()):
        self.kind = kind
        self.resources = [JID(r) if isinstance(r, str) else r for r in resources]


def holds(rule, delivery, intended, now):
    """Whether ``rule``'s condition is met for ``intended`` (the ``to`` JID) at ``now`` (µs)."""
    if rule.condition == "deliver":
        # forward and gateway: this server never forwards nor gateways.
        return rule.value == delivery.kind
    if rule.condition == "expire-at":
        # §3.3.2: met on or after the moment named.
        return now >= rule.expiresAt
    return _matchResource(rule.value, intended, delivery)


def _matchResource(value, intended, delivery):
    """
    XEP-0079 §3.3.3. Offline storage is a destination without a resource:
    for a bare ``to`` it is the "exact" match; for a full ``to`` it is
    "other", as is delivery to a different resource after the intended one
    went away (the reliable-transport example of §7.1).
    """
    direct = delivery.kind == DIRECT
    if value == "any":
        return direct
    if intended.resource:
        exact = direct and intended in delivery.resources
        if value == "exact":
            return exact
        return (direct or delivery.kind == STORED) and not exact
    if value == "exact":
        return delivery.kind == STORED
    return direct


def evaluate(rules, delivery, intended, now):
    """
    Process the rules in document order (§2.2.3): return the first rule
    that holds with an action other than notify (or None), and the notify
    rules met before it, which do not stop processing (§3.4.4).
    """
    notifies = []
    for rule in rules:
        if not holds(rule, delivery, intended, now):
            continue
        if rule.action == "notify":
            notifies.append(rule)
            continue
        return rule, notifies
    return None, notifies


def expiredRules(rules, now):
    """
    For a stored message that expired: the notify rules and the first
    alert/error/drop rule among the expire-at rules that have passed.
    """
    passed = [rule for rule in rules
              if rule.condition == "expire-at" and rule.expiresAt <= now]
    return evaluate(passed, Delivery(NONE), JID("expired@invalid"), now)


def reply(message, rule, domain, to=None):
    """
    The event a fired rule returns to the sender (§2.2.5, §3.4): from the
    recipient's server, with the original id, ``<amp status=ACTION>``
    naming the original addresses and the rule, and none of the message's
    other content. An ``error`` is a ``type='error'`` message with
    ``<undefined-condition/>`` and ``<failed-rules/>`` (§3.4.3).
    """
    sender = message.getAttribute("from")
    response = domish.Element((None, "message"))
    response["from"] = domain
    response["to"] = to or sender
    response["id"] = message["id"]
    amp = response.addElement((NS_AMP, "amp"))
    amp["status"] = rule.action
    amp["from"] = sender
    amp["to"] = message["to"]
    amp.addChild(rule.toElement())
    if rule.action == "error":
        response["type"] = "error"
        failed = domish.Element((NS_AMP_ERRORS, "failed-rules"))
        failed.addChild(rule.toElement())
        response.addChild(StanzaError("undefined-condition", type="modify",
                                      appCondition=failed).getElement())
    return response
