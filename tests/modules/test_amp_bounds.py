"""
AMP bounds (XEP-0079): at most 16 rules per message (more is
``not-acceptable``, not thousands of replies), and an ``expire-at`` outside
the years 1970–9999, year 0000 included, is an invalid rule.
"""

import xml.etree.ElementTree as ET

from tests.aio import asyncioTest
from tests.modules.test_amp import (  # noqa: F401 (fixtures)
    ALICE, NS_AMP, ampMessage, assertAmpReply, assertRefused, rule, start_amp_server, world)
from tests.rawclient import NS_CLIENT, NS_STANZAS, q, stanzaErrorCondition
from xmppd.amp.rules import MAX_RULES


@asyncioTest
async def test_more_than_16_rules_is_not_acceptable_and_nothing_is_sent(world):
    alice = await world.connect("alice", "laptop")
    bob = await world.connect("bob", "phone")
    notify = rule("notify", "deliver", "direct")
    alice.sendRaw(ampMessage("bob@localhost", [notify] * 4400))
    error = await alice.expect()
    assert error.get("type") == "error" and error.get("id") == "amp1", ET.tostring(error)
    assert stanzaErrorCondition(error) == ("modify", "not-acceptable")
    assert error.find(q(NS_CLIENT, "error")).findtext(q(NS_STANZAS, "text")) == (
        "at most 16 AMP rules per message")
    assert await alice.roundTrip() == []
    assert await bob.roundTrip() == [], "the message goes no further"


@asyncioTest
async def test_16_rules_are_processed(world):
    alice = await world.connect("alice", "laptop")
    bob = await world.connect("bob", "phone")
    notify = rule("notify", "deliver", "direct")
    alice.sendRaw(ampMessage("bob@localhost", [notify] * MAX_RULES))
    for _ in range(MAX_RULES):
        assertAmpReply(await alice.expect(), "notify", notify)
    assert (await bob.expect()).findtext(q(NS_CLIENT, "body")) == "secret plans"


@asyncioTest
async def test_expire_at_in_year_0000_is_an_invalid_rule(world):
    yearZero = rule("alert", "expire-at", "0000-01-01T00:00:00Z")
    before1970 = rule("drop", "expire-at", "1969-12-31T23:59:59Z")
    await assertRefused(
        world, ampMessage("bob@localhost", [yearZero, rule("notify", "deliver", "direct"),
                                            before1970]),
        "invalid-rules", [yearZero, before1970])
