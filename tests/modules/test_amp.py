"""
Advanced Message Processing (XEP-0079, SPEC §6) through real TCP and TLS:
discovery, validation, and every action against every condition value for
a recipient who is online. ``test_amp_offline.py`` covers storage, quota
and expiry.

Each test is a conversation: alice sends a message with rules to bob, and
the test shows exactly what alice and bob receive (``roundTrip`` proves
that nothing else arrived).
"""

import gc
import xml.etree.ElementTree as ET

import pytest
import pytest_twisted

from tests.aio import asyncioTest, wait
from tests.rawclient import NS_CLIENT, NS_STANZAS, RawClient, q, stanzaErrorCondition

NS_AMP = "http://jabber.org/protocol/amp"
NS_AMP_ERRORS = "http://jabber.org/protocol/amp#errors"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
PAST = "2004-01-01T00:00:00Z"
ALICE = "alice@localhost/laptop"


# Fixtures and transcript helpers ------------------------------------------------


class AmpWorld:
    """A running server, its users alice, bob and carol, and their clients."""

    def __init__(self, running):
        self.running = running
        self.port = running.port
        self.clients = []

    def host(self):
        return self.running.host()

    async def connect(self, name, resource, presence="<presence/>"):
        client = await RawClient.connect(self.port)
        self.clients.append(client)
        await client.login(name, "secret-" + name, resource)
        if presence is not None:
            client.sendRaw(presence)
            reflected = await client.expect()
            assert reflected.tag == q(NS_CLIENT, "presence"), ET.tostring(reflected)
        return client

    async def close(self):
        for client in self.clients:
            try:
                await client.close()
            except Exception:
                pass  # a client the test already closed
        await self.running.stop()


@pytest_twisted.async_yield_fixture
async def start_amp_server(make_database, tmp_path):
    """
    ``await wait(start_amp_server(config, backend))`` in a test: a server
    (SQLite unless told) with alice, bob and carol (a Twisted coroutine,
    hence ``wait``).
    """
    from tests.harness import startServer

    worlds = []

    async def start(config=None, backend="sqlite"):
        database = await make_database(backend)
        running = await startServer(database, tmp_path, config)
        for name in ("alice", "bob", "carol"):
            await running.addUser(name, "secret-" + name)
        world = AmpWorld(running)
        worlds.append(world)
        return world

    yield start
    for world in worlds:
        await world.close()


@pytest_twisted.async_yield_fixture
async def world(start_amp_server, backend_with_memory):
    yield await start_amp_server(backend=backend_with_memory)


def rule(action, condition, value):
    return {"action": action, "condition": condition, "value": value}


def ruleXml(r):
    return "<rule action='%(action)s' condition='%(condition)s' value='%(value)s'/>" % r


def ampMessage(to, rules, id="amp1", kind="chat", body="secret plans", ampAttrs=""):
    kindAttr = " type='%s'" % kind if kind else ""
    idAttr = " id='%s'" % id if id is not None else ""
    return ("<message to='%s'%s%s><body>%s</body><amp xmlns='%s'%s>%s</amp></message>"
            % (to, kindAttr, idAttr, body, NS_AMP, ampAttrs,
               "".join(ruleXml(r) for r in rules)))


def assertAmpReply(element, status, fired, id="amp1", to="bob@localhost", sender=ALICE):
    """
    The reply of XEP-0079 §3.4 as SPEC §6 states it: from the host, the
    original id, ``<amp status from to>`` with the rule, no body; for
    ``error`` a type='error' message with undefined-condition and
    failed-rules naming the rule.
    """
    assert element.tag == q(NS_CLIENT, "message"), ET.tostring(element)
    assert element.get("from") == "localhost", ET.tostring(element)
    assert element.get("to") == sender
    assert element.get("id") == id
    assert element.find(q(NS_CLIENT, "body")) is None, "the body is never echoed"
    amp = element.find(q(NS_AMP, "amp"))
    assert amp is not None, ET.tostring(element)
    assert (amp.get("status"), amp.get("from"), amp.get("to")) == (status, sender, to)
    assert [dict(r.attrib) for r in amp] == [fired]
    assert [r.tag for r in amp] == [q(NS_AMP, "rule")]
    if status == "error":
        assert element.get("type") == "error"
        assert stanzaErrorCondition(element) == ("modify", "undefined-condition")
        error = element.find(q(NS_CLIENT, "error"))
        failed = error.find(q(NS_AMP_ERRORS, "failed-rules"))
        assert [dict(r.attrib) for r in failed] == [fired]
        assert list(element)[-1] is error
    else:
        assert element.get("type") is None
        assert element.find(q(NS_CLIENT, "error")) is None


def assertMessage(element, body, id="amp1", sender=ALICE):
    assert element.tag == q(NS_CLIENT, "message"), ET.tostring(element)
    assert element.get("from") == sender
    assert element.get("id") == id
    assert element.findtext(q(NS_CLIENT, "body")) == body


# Discovery (XEP-0079 §2.1.1) ---------------------------------------------------


async def discoInfo(client, node=None):
    nodeAttr = " node='%s'" % node if node else ""
    client.sendRaw("<iq type='get' id='disco1' to='localhost'><query xmlns='%s'%s/></iq>"
                   % (NS_DISCO_INFO, nodeAttr))
    reply = await client.expect()
    assert reply.get("id") == "disco1", ET.tostring(reply)
    return reply


def features(reply):
    query = reply.find(q(NS_DISCO_INFO, "query"))
    return [f.get("var") for f in query.findall(q(NS_DISCO_INFO, "feature"))]


@asyncioTest
async def test_host_disco_info_lists_the_amp_feature(world):
    alice = await world.connect("alice", "laptop", presence=None)
    reply = await discoInfo(alice)
    assert reply.get("type") == "result"
    assert NS_AMP in features(reply)


@asyncioTest
async def test_disco_info_on_the_amp_node_lists_every_action_and_condition(world):
    alice = await world.connect("alice", "laptop", presence=None)
    reply = await discoInfo(alice, NS_AMP)
    assert reply.get("type") == "result", ET.tostring(reply)
    assert reply.find(q(NS_DISCO_INFO, "query")).get("node") == NS_AMP
    assert sorted(features(reply)) == sorted([
        NS_AMP,
        NS_AMP + "?action=alert", NS_AMP + "?action=drop",
        NS_AMP + "?action=error", NS_AMP + "?action=notify",
        NS_AMP + "?condition=deliver", NS_AMP + "?condition=expire-at",
        NS_AMP + "?condition=match-resource",
    ])
    identity = reply.find(q(NS_DISCO_INFO, "query")).find(q(NS_DISCO_INFO, "identity"))
    assert identity is not None


@pytest.mark.parametrize("node", [NS_AMP + "?action=notify", NS_AMP + "?condition=expire-at"])
@asyncioTest
async def test_disco_info_on_an_action_or_condition_node_answers(world, node):
    alice = await world.connect("alice", "laptop", presence=None)
    reply = await discoInfo(alice, node)
    assert reply.get("type") == "result", ET.tostring(reply)
    query = reply.find(q(NS_DISCO_INFO, "query"))
    assert query.get("node") == node
    assert features(reply) == [node]
    assert query.find(q(NS_DISCO_INFO, "identity")) is not None


@asyncioTest
async def test_disco_info_on_an_unsupported_amp_node_is_item_not_found(world):
    alice = await world.connect("alice", "laptop", presence=None)
    reply = await discoInfo(alice, NS_AMP + "?action=forward")
    assert reply.get("type") == "error"
    assert stanzaErrorCondition(reply) == ("cancel", "item-not-found")


# Validation before routing (XEP-0079 §2.2.1) ------------------------------------


async def assertRefused(world, message, specific, rules, text=None):
    """alice gets bad-request (+ the AMP element listing ``rules``); bob nothing."""
    alice = await world.connect("alice", "laptop")
    bob = await world.connect("bob", "phone")
    alice.sendRaw(message)
    error = await alice.expect()
    assert error.tag == q(NS_CLIENT, "message"), ET.tostring(error)
    assert error.get("type") == "error"
    assert error.get("from") == "bob@localhost"
    assert error.get("to") == ALICE
    assert stanzaErrorCondition(error) == ("modify", "bad-request")
    element = error.find(q(NS_CLIENT, "error"))
    assert list(error)[-1] is element, "the error comes last (RFC 6120 §8.3)"
    assert error.findtext(q(NS_CLIENT, "body")) == "secret plans", "payload kept (SPEC §2)"
    if specific is None:
        assert [c.tag for c in element if not c.tag.startswith("{%s}" % NS_STANZAS)] == []
    else:
        listed = element.find(q(NS_AMP, specific))
        assert listed is not None, ET.tostring(error)
        assert [dict(r.attrib) for r in listed] == rules
    assert await alice.roundTrip() == []
    assert await bob.roundTrip() == [], "the message goes no further"
    return error


@asyncioTest
async def test_amp_message_without_id_is_bad_request(world):
    await assertRefused(world, ampMessage("bob@localhost", [rule("drop", "deliver", "stored")],
                                          id=None), None, [])


@asyncioTest
async def test_unsupported_action_is_bad_request_with_unsupported_actions(world):
    bad = rule("explode", "deliver", "direct")
    await assertRefused(
        world, ampMessage("bob@localhost", [rule("notify", "deliver", "direct"), bad]),
        "unsupported-actions", [bad])


@asyncioTest
async def test_unsupported_condition_is_bad_request_with_unsupported_conditions(world):
    bad = rule("alert", "delivered-by-pigeon", "yes")
    await assertRefused(
        world, ampMessage("bob@localhost", [bad, rule("drop", "deliver", "direct")]),
        "unsupported-conditions", [bad])


@asyncioTest
async def test_bad_condition_values_are_bad_request_with_invalid_rules(world):
    badDeliver = rule("alert", "deliver", "carrier-pigeon")
    badExpiry = rule("drop", "expire-at", "next tuesday")
    badResource = rule("error", "match-resource", "some")
    await assertRefused(
        world, ampMessage("bob@localhost", [badDeliver, rule("notify", "deliver", "direct"),
                                            badExpiry, badResource]),
        "invalid-rules", [badDeliver, badExpiry, badResource])


# Every action against every condition value, recipient online ------------------

# (to, the rule's condition and value): each holds while bob is online as
# bob@localhost/phone and alice sends from alice@localhost/laptop.
ONLINE_CONDITIONS = {
    "deliver-direct": ("bob@localhost", "deliver", "direct"),
    "expire-at-passed": ("bob@localhost", "expire-at", PAST),
    "match-resource-any": ("bob@localhost", "match-resource", "any"),
    "match-resource-exact": ("bob@localhost/phone", "match-resource", "exact"),
    # A chat to a resource that is gone goes to the bare JID: another resource.
    "match-resource-other": ("bob@localhost/desk", "match-resource", "other"),
}


@pytest.mark.parametrize("action", ["alert", "drop", "error", "notify"])
@pytest.mark.parametrize("case", sorted(ONLINE_CONDITIONS))
@asyncioTest
async def test_action_fires_when_condition_holds_for_online_recipient(world, case, action):
    to, condition, value = ONLINE_CONDITIONS[case]
    fired = rule(action, condition, value)
    alice = await world.connect("alice", "laptop")
    bob = await world.connect("bob", "phone")

    alice.sendRaw(ampMessage(to, [fired]))

    if action == "drop":
        assert await alice.roundTrip() == []
    else:
        assertAmpReply(await alice.expect(), action, fired, to=to)
        assert await alice.roundTrip() == []
    if action == "notify":
        # Processing continues (§3.4.4): bob gets the message, rules and all.
        received = await bob.expect()
        assertMessage(received, "secret plans")
        assert received.find(q(NS_AMP, "amp")) is not None
    assert await bob.roundTrip() == []


# A rule whose condition does not hold for an online recipient does nothing.
ONLINE_NOT_HOLDING = [
    ("bob@localhost", rule("alert", "deliver", "stored")),
    ("bob@localhost", rule("error", "deliver", "none")),
    ("bob@localhost", rule("drop", "expire-at", "2999-01-01T00:00:00Z")),
    ("bob@localhost", rule("alert", "match-resource", "exact")),
    ("bob@localhost/phone", rule("error", "match-resource", "other")),
    ("bob@localhost/desk", rule("drop", "match-resource", "exact")),
]


@pytest.mark.parametrize("to,unmet", ONLINE_NOT_HOLDING,
                         ids=["%s-%s" % (r["condition"], r["value"][:6]) for _, r in ONLINE_NOT_HOLDING])
@asyncioTest
async def test_rule_that_does_not_hold_leaves_delivery_alone(world, to, unmet):
    alice = await world.connect("alice", "laptop")
    bob = await world.connect("bob", "phone")
    alice.sendRaw(ampMessage(to, [unmet]))
    assertMessage(await bob.expect(), "secret plans")
    assert await alice.roundTrip() == []
    assert await bob.roundTrip() == []


@asyncioTest
async def test_deliver_forward_and_gateway_never_hold_here(world):
    alice = await world.connect("alice", "laptop")
    bob = await world.connect("bob", "phone")
    rules = [rule(action, "deliver", value)
             for value in ("forward", "gateway")
             for action in ("alert", "drop", "error", "notify")]
    alice.sendRaw(ampMessage("bob@localhost", rules))
    assertMessage(await bob.expect(), "secret plans")
    assert await alice.roundTrip() == []
    assert await bob.roundTrip() == []


@asyncioTest
async def test_first_rule_that_holds_fires_and_notify_lets_processing_continue(world):
    alice = await world.connect("alice", "laptop")
    bob = await world.connect("bob", "phone")
    notify = rule("notify", "deliver", "direct")
    alert = rule("alert", "match-resource", "any")
    later = rule("error", "deliver", "direct")
    alice.sendRaw(ampMessage("bob@localhost", [rule("drop", "deliver", "stored"),
                                               notify, alert, later]))
    assertAmpReply(await alice.expect(), "notify", notify)
    assertAmpReply(await alice.expect(), "alert", alert)
    assert await alice.roundTrip() == []
    assert await bob.roundTrip() == [], "alert drops the message"


@asyncioTest
async def test_notify_on_direct_delivery_reaches_every_target(world):
    alice = await world.connect("alice", "laptop")
    phone = await world.connect("bob", "phone")
    desk = await world.connect("bob", "desk")
    # Each of bob's resources sees the other's presence (RFC 6121 §4.2.2).
    await phone.roundTrip()
    await desk.roundTrip()
    notify = rule("notify", "match-resource", "other")
    alice.sendRaw(ampMessage("bob@localhost", [notify], kind="headline"))
    assertAmpReply(await alice.expect(), "notify", notify)
    for client in (phone, desk):
        assertMessage(await client.expect(), "secret plans")
        assert await client.roundTrip() == []


@asyncioTest
async def test_per_hop_rules_are_honoured_at_this_hop(world):
    alice = await world.connect("alice", "laptop")
    bob = await world.connect("bob", "phone")
    alert = rule("alert", "match-resource", "exact")
    alice.sendRaw(ampMessage("bob@localhost/phone", [alert], ampAttrs=" per-hop='true'"))
    assertAmpReply(await alice.expect(), "alert", alert, to="bob@localhost/phone")
    assert await bob.roundTrip() == []


@asyncioTest
async def test_message_that_would_bounce_is_deliver_none(world):
    alice = await world.connect("alice", "laptop")
    await world.connect("bob", "phone")
    # A normal message to a resource that is gone is not delivered (RFC 6121 §8.5.3.2.1).
    error = rule("error", "deliver", "none")
    alice.sendRaw(ampMessage("bob@localhost/desk", [error], kind="normal"))
    assertAmpReply(await alice.expect(), "error", error, to="bob@localhost/desk")
    assert await alice.roundTrip() == [], "the AMP error replaces the bounce"


@asyncioTest
async def test_amp_replies_to_a_message_alice_sends_herself(world):
    alice = await world.connect("alice", "laptop")
    alert = rule("alert", "deliver", "direct")
    alice.sendRaw(ampMessage(ALICE, [alert]))
    assertAmpReply(await alice.expect(), "alert", alert, to=ALICE)
    assert await alice.roundTrip() == []


@asyncioTest
async def test_amp_disabled_passes_rules_through_and_leaves_disco(start_amp_server):
    world = await wait(start_amp_server({"modules": {"amp": {"enabled": False}}}))
    alice = await world.connect("alice", "laptop")
    bob = await world.connect("bob", "phone")
    reply = await discoInfo(alice)
    assert NS_AMP not in features(reply)
    alice.sendRaw(ampMessage("bob@localhost", [rule("drop", "deliver", "direct")]))
    assertMessage(await bob.expect(), "secret plans")
    assert await alice.roundTrip() == []


@asyncioTest
async def test_message_to_an_account_that_does_not_exist_is_deliver_none(world):
    alice = await world.connect("alice", "laptop")
    notify = rule("notify", "deliver", "none")
    alice.sendRaw(ampMessage("nobody@localhost", [rule("drop", "deliver", "stored"), notify]))
    assertAmpReply(await alice.expect(), "notify", notify, to="nobody@localhost")
    bounce = await alice.expect()
    assert bounce.get("type") == "error" and bounce.get("id") == "amp1"
    assert stanzaErrorCondition(bounce) == ("cancel", "service-unavailable")
    assert await alice.roundTrip() == []


def _ampHooks(host):
    """The AMP handlers that routing's two events call now."""
    return [handler for name in ("message/route", "message/offline")
            for handler in host.events.handlers.get(name, ())
            if type(getattr(handler, "__self__", None)).__name__ == "AmpHandler"]


@asyncioTest
async def test_routing_asks_amp_only_while_a_message_with_rules_exists(world):
    alice = await world.connect("alice", "laptop")
    bob = await world.connect("bob", "phone")
    host = world.host()
    assert _ampHooks(host) == []
    alice.sendRaw("<message to='bob@localhost' id='p1'><body>plain</body></message>")
    assertMessage(await bob.expect(), "plain", id="p1")
    alert = rule("alert", "deliver", "direct")
    alice.sendRaw(ampMessage("bob@localhost", [alert]))
    # Its rules were evaluated when routing acted on it: the alert fired.
    assertAmpReply(await alice.expect(), "alert", alert)
    assert await bob.roundTrip() == [], "alert drops the message"
    # Dropped and gone: routing no longer asks AMP.
    gc.collect()
    assert _ampHooks(host) == []
    alice.sendRaw(ampMessage("bob@localhost", [alert], id="amp2"))
    assertAmpReply(await alice.expect(), "alert", alert, id="amp2")
