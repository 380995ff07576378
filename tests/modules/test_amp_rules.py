"""
XEP-0079 rules without a server: DateTime parsing, validation order, and
the condition table of docs/amp.md, in microseconds.
"""

import pytest
from twisted.words.protocols.jabber.jid import JID

from tests.modules.test_amp import NS_AMP


def parse(xml):
    import xmppd  # noqa: F401  (the Wokkel shim, before wokkel)
    from wokkel.generic import parseXml
    return parseXml(xml.encode())


def amp(*rules, id="m1"):
    idAttr = " id='%s'" % id if id else ""
    return parse("<message xmlns='jabber:client' from='a@x/r' to='b@x'%s><amp xmlns='%s'>%s</amp>"
                 "</message>" % (idAttr, NS_AMP, "".join(
                     "<rule action='%s' condition='%s' value='%s'/>" % r for r in rules)))


@pytest.mark.parametrize("text,expected", [
    ("2004-01-01T00:00:00Z", 1072915200_000000),
    ("2004-01-01T00:00:00.25Z", 1072915200_250000),
    ("2004-01-01T00:00:00+00:00", 1072915200_000000),
    ("2004-01-01T00:00:00", None),          # no timezone
    ("2004-01-01T00:00:00+02:00", None),    # XEP-0079 §3.3.2: UTC only
    ("2004-02-30T00:00:00Z", None),
    ("2004-01-01 00:00:00Z", None),
    ("tomorrow", None),
    ("", None),
])
def test_expire_at_is_a_utc_xep0082_datetime(text, expected):
    from xmppd.amp.rules import parseDateTime
    assert parseDateTime(text) == expected


def test_unsupported_actions_are_reported_before_conditions_and_values():
    from xmppd.amp.rules import AmpInvalid, parseRequest
    with pytest.raises(AmpInvalid) as caught:
        parseRequest(amp(("alert", "nope", "x"), ("boom", "deliver", "direct"),
                         ("drop", "deliver", "bogus")))
    assert caught.value.specific == "unsupported-actions"
    assert [r.action for r in caught.value.rules] == ["boom"]


def test_amp_without_rules_is_refused():
    from xmppd.amp.rules import AmpInvalid, parseRequest
    with pytest.raises(AmpInvalid):
        parseRequest(amp())


def test_earliest_expire_at_is_the_stored_expiry():
    from xmppd.amp.rules import parseRequest
    request = parseRequest(amp(("drop", "expire-at", "2030-01-01T00:00:00Z"),
                               ("alert", "expire-at", "2029-01-01T00:00:00Z"),
                               ("notify", "deliver", "stored")))
    assert request.expiresAt() == 1861920000_000000


# (to, delivery kind, delivered-to resources) -> holding match-resource values
MATCH_TABLE = [
    ("b@x", "direct", ["b@x/phone"], {"any", "other"}),
    ("b@x", "stored", [], {"exact"}),
    ("b@x", "none", [], set()),
    ("b@x/phone", "direct", ["b@x/phone"], {"any", "exact"}),
    ("b@x/desk", "direct", ["b@x/phone"], {"any", "other"}),
    ("b@x/desk", "stored", [], {"other"}),
    ("b@x/desk", "none", [], set()),
]


@pytest.mark.parametrize("to,kind,resources,holding", MATCH_TABLE)
def test_match_resource_table(to, kind, resources, holding):
    from xmppd.amp.rules import AmpRule, Delivery, holds
    delivery = Delivery(kind, resources)
    met = {value for value in ("any", "exact", "other")
           if holds(AmpRule("drop", "match-resource", value), delivery, JID(to), 0)}
    assert met == holding


def test_notify_does_not_stop_processing_but_the_next_action_does():
    from xmppd.amp.rules import Delivery, evaluate, parseRequest
    request = parseRequest(amp(("notify", "deliver", "stored"), ("notify", "match-resource", "exact"),
                               ("error", "deliver", "stored"), ("alert", "deliver", "stored")))
    fired, notifies = evaluate(request.rules, Delivery("stored"), JID("b@x"), 0)
    assert fired.action == "error"
    assert [(r.action, r.condition) for r in notifies] == [("notify", "deliver"),
                                                           ("notify", "match-resource")]
