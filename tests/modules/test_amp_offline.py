"""
AMP (XEP-0079) for a recipient who is offline (SPEC §6): ``deliver=stored``
and ``deliver=none`` against the offline decision, the pair limit turning
``stored`` into ``none``, and ``expire-at`` at send time and while stored,
with the expiry sweep driven by a test clock.

What was stored is shown the way a user sees it: bob comes online and the
test lists exactly what he receives.
"""

import asyncio
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

import pytest
from twisted.internet import defer

from tests.aio import asyncioTest, wait
from tests.modules.test_amp import (  # noqa: F401  (fixtures)
    ALICE,
    NS_AMP,
    PAST,
    ampMessage,
    assertAmpReply,
    assertMessage,
    rule,
    start_amp_server,
    world,
)
from tests.offline.transcript import leave
from tests.rawclient import NS_CLIENT, TIMEOUT, q, stanzaErrorCondition

OFFLINE_OFF = {"modules": {"offline": {"enabled": False}}}
NS_DELAY = "urn:xmpp:delay"


@pytest.fixture
def backend(backend_with_memory):
    """The memory stores too, besides SQLite and MariaDB."""
    return backend_with_memory


def plainMessage(id, body, to="bob@localhost"):
    return "<message to='%s' type='chat' id='%s'><body>%s</body></message>" % (to, id, body)


def isoAt(seconds):
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def storedEvent(world, count=1):
    """
    Awaitable once ``count`` messages have been stored (from now on: create
    it before sending), or a timeout rather than a hung test.
    """
    done, seen = defer.Deferred(), []

    def onStored(offlineMessage, rowId):
        seen.append(rowId)
        if len(seen) == count and not done.called:
            done.callback(seen)

    world.host().events.hook("offline/stored", onStored, -100)
    return asyncio.wait_for(wait(done), TIMEOUT)


def controlClock(world):
    """
    Put the offline service (and with it AMP, which reads the same clock)
    and its expiry sweep on a ``task.Clock`` set to the real time, so that a
    test moves time forward instead of sleeping.
    """
    from twisted.internet import task
    clock = task.Clock()
    clock.advance(time.time())
    world.host().offline.clock = clock
    sweeper = world.running.server.offlineSweeper
    sweeper.release()
    sweeper.acquire()
    return clock, sweeper


async def expectOfflineMessages(world, ids, name="bob", resource="phone"):
    """``name`` comes online and gets exactly the stored messages ``ids``, in order."""
    client = await world.connect(name, resource)
    for id in ids:
        element = await client.expect()
        assert element.tag == q(NS_CLIENT, "message"), ET.tostring(element)
        assert element.get("id") == id
        assert element.find(q(NS_DELAY, "delay")) is not None
    assert await client.roundTrip() == []
    # The delivery is over once the rows went, on the answer to its ping.
    account = "%s@localhost" % name
    await wait(world.running.server.pipeline.run(account, lambda: None))
    return client


# deliver=stored, offline storage on -----------------------------------------------


@pytest.mark.parametrize("action", ["alert", "drop", "error", "notify"])
@asyncioTest
async def test_action_fires_when_message_would_be_stored(world, action):
    alice = await world.connect("alice", "laptop")
    fired = rule(action, "deliver", "stored")

    alice.sendRaw(ampMessage("bob@localhost", [fired]))
    if action != "drop":
        assertAmpReply(await alice.expect(), action, fired)
    # In the same recipient's order: proves what happened to the first.
    alice.sendRaw(plainMessage("plain1", "after"))
    assert await alice.roundTrip() == []

    if action == "notify":
        await expectOfflineMessages(world, ["amp1", "plain1"])
    else:
        await expectOfflineMessages(world, ["plain1"])


@asyncioTest
async def test_deliver_direct_and_none_do_not_hold_for_a_stored_message(world):
    alice = await world.connect("alice", "laptop")
    stored = storedEvent(world)
    alice.sendRaw(ampMessage("bob@localhost", [
        rule("drop", "deliver", "direct"), rule("alert", "deliver", "none"),
        rule("error", "match-resource", "any"), rule("drop", "expire-at", "2999-01-01T00:00:00Z"),
    ]))
    assert await alice.roundTrip() == []
    await stored
    await expectOfflineMessages(world, ["amp1"])


@asyncioTest
async def test_chat_to_a_departed_resource_is_stored_which_is_match_resource_other(world):
    # XEP-0079 §7.1, reliable data transport: it was meant for that resource only.
    alice = await world.connect("alice", "laptop")
    exact = rule("drop", "match-resource", "exact")
    other = rule("error", "match-resource", "other")
    alice.sendRaw(ampMessage("bob@localhost/pda", [exact, other]))
    assertAmpReply(await alice.expect(), "error", other, to="bob@localhost/pda")
    alice.sendRaw(plainMessage("plain1", "after"))
    assert await alice.roundTrip() == []
    await expectOfflineMessages(world, ["plain1"])


@asyncioTest
async def test_bare_jid_message_to_storage_is_match_resource_exact(world):
    # XEP-0079 §3.3.3: offline storage is the destination without a resource.
    alice = await world.connect("alice", "laptop")
    exact = rule("alert", "match-resource", "exact")
    alice.sendRaw(ampMessage("bob@localhost", [rule("drop", "match-resource", "other"), exact]))
    assertAmpReply(await alice.expect(), "alert", exact)
    assert await alice.roundTrip() == []


# deliver=none --------------------------------------------------------------------


@pytest.mark.parametrize("action", ["alert", "drop", "error", "notify"])
@asyncioTest
async def test_action_fires_as_deliver_none_when_offline_storage_is_off(start_amp_server, action):
    world = await wait(start_amp_server(OFFLINE_OFF))
    alice = await world.connect("alice", "laptop")
    fired = rule(action, "deliver", "none")
    alice.sendRaw(ampMessage("bob@localhost", [rule("drop", "deliver", "stored"), fired]))
    if action != "drop":
        assertAmpReply(await alice.expect(), action, fired)
    if action == "notify":
        # Processing continues: the bounce of an offline storage that is off.
        bounce = await alice.expect()
        assert bounce.get("type") == "error" and bounce.get("id") == "amp1"
        assert stanzaErrorCondition(bounce) == ("cancel", "service-unavailable")
        assert bounce.find(q(NS_CLIENT, "error")).findtext(
            "{urn:ietf:params:xml:ns:xmpp-stanzas}text") == "Bounce offline message"
    assert await alice.roundTrip() == []


@asyncioTest
async def test_disco_lists_amp_while_offline_storage_is_off(start_amp_server):
    from tests.modules.test_amp import discoInfo, features
    world = await wait(start_amp_server(OFFLINE_OFF))
    alice = await world.connect("alice", "laptop", presence=None)
    assert NS_AMP in features(await discoInfo(alice))


@asyncioTest
async def test_headline_for_offline_recipient_is_deliver_none(world):
    # SPEC §2 rule 5 drops a headline silently: it would not be stored.
    alice = await world.connect("alice", "laptop")
    alert = rule("alert", "deliver", "none")
    alice.sendRaw(ampMessage("bob@localhost", [rule("drop", "deliver", "stored"), alert],
                             kind="headline"))
    assertAmpReply(await alice.expect(), "alert", alert)
    assert await alice.roundTrip() == []


# The pair limit: over quota, stored becomes none (SPEC §6) -----------------------


@asyncioTest
async def test_deliver_stored_over_the_pair_limit_fires_as_deliver_none(start_amp_server,
                                                                        backend):
    world = await wait(start_amp_server({"modules": {"offline": {"pair_limit": 1}}}, backend))
    alice = await world.connect("alice", "laptop")
    stored = storedEvent(world)
    alice.sendRaw(plainMessage("plain1", "fills the quota"))
    await stored

    none = rule("alert", "deliver", "none")
    alice.sendRaw(ampMessage("bob@localhost", [rule("notify", "deliver", "stored"), none]))
    assertAmpReply(await alice.expect(), "alert", none)
    assert await alice.roundTrip() == [], "no notify, and the alert replaces the quota bounce"
    await expectOfflineMessages(world, ["plain1"])


@asyncioTest
async def test_over_the_pair_limit_without_a_none_rule_bounces_queue_full(start_amp_server):
    world = await wait(start_amp_server({"modules": {"offline": {"pair_limit": 1}}}))
    alice = await world.connect("alice", "laptop")
    stored = storedEvent(world)
    alice.sendRaw(plainMessage("plain1", "fills the quota"))
    await stored

    alice.sendRaw(ampMessage("bob@localhost", [rule("drop", "deliver", "stored")]))
    bounce = await alice.expect()
    assert bounce.get("type") == "error" and bounce.get("id") == "amp1"
    assert stanzaErrorCondition(bounce) == ("cancel", "service-unavailable")
    assert bounce.find(q(NS_CLIENT, "error")).findtext(
        "{urn:ietf:params:xml:ns:xmpp-stanzas}text") == "Offline messages queue is full"
    assert await alice.roundTrip() == []


# expire-at ------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["alert", "error"])
@asyncioTest
async def test_expire_at_already_passed_for_offline_recipient_fires_and_stores_nothing(
        world, action):
    alice = await world.connect("alice", "laptop")
    fired = rule(action, "expire-at", PAST)
    alice.sendRaw(ampMessage("bob@localhost", [rule("drop", "deliver", "direct"), fired]))
    assertAmpReply(await alice.expect(), action, fired)
    alice.sendRaw(plainMessage("plain1", "after"))
    assert await alice.roundTrip() == []
    await expectOfflineMessages(world, ["plain1"])


@asyncioTest
async def test_expire_at_passing_while_stored_alerts_the_sender_at_the_sweep(start_amp_server,
                                                                            backend):
    world = await wait(start_amp_server({"modules": {"offline": {"expire_interval": "5s"}}},
                                        backend))
    clock, _ = controlClock(world)
    alice = await world.connect("alice", "laptop")
    expireAt = isoAt(int(clock.seconds()) + 3)
    alert = rule("alert", "expire-at", expireAt)
    stored = storedEvent(world)

    alice.sendRaw(ampMessage("bob@localhost", [alert]))
    await stored
    assert await alice.roundTrip() == [], "nothing fires while it has not expired"

    clock.advance(5)  # the sweep's interval: it runs, finds the row expired
    assertAmpReply(await alice.expect(), "alert", alert)
    assert await alice.roundTrip() == []
    await expectOfflineMessages(world, [])


@pytest.mark.parametrize("action", ["drop", "error", "notify"])
@asyncioTest
async def test_expire_at_passing_while_stored_tells_the_sender_unless_drop(world, action):
    clock, sweeper = controlClock(world)
    alice = await world.connect("alice", "laptop")
    fired = rule(action, "expire-at", isoAt(int(clock.seconds()) + 10))
    stored = storedEvent(world)
    alice.sendRaw(ampMessage("bob@localhost", [fired]))
    await stored

    clock.advance(11)
    assert await wait(sweeper.sweep()) == 1
    if action != "drop":
        assertAmpReply(await alice.expect(), action, fired)
    assert await alice.roundTrip() == []
    await expectOfflineMessages(world, [])


@asyncioTest
async def test_expire_at_message_delivered_in_time_never_alerts_later(start_amp_server, backend):
    world = await wait(start_amp_server(None, backend))
    clock, sweeper = controlClock(world)
    alice = await world.connect("alice", "laptop")
    alert = rule("alert", "expire-at", isoAt(int(clock.seconds()) + 10))
    stored = storedEvent(world)
    alice.sendRaw(ampMessage("bob@localhost", [alert]))
    await stored

    bob = await expectOfflineMessages(world, ["amp1"])
    clock.advance(11)
    assert await wait(sweeper.sweep()) == 0
    assert await alice.roundTrip() == []
    assert await bob.roundTrip() == []


@asyncioTest
async def test_stored_message_is_not_delivered_after_expire_at_even_before_the_sweep(world):
    clock, _ = controlClock(world)
    alice = await world.connect("alice", "laptop")
    stored = storedEvent(world)
    alice.sendRaw(ampMessage("bob@localhost",
                             [rule("drop", "expire-at", isoAt(int(clock.seconds()) + 10))]))
    await stored
    clock.advance(11)
    await expectOfflineMessages(world, [])


@asyncioTest
async def test_expiry_alert_for_a_sender_gone_offline_waits_in_her_offline_queue(world):
    clock, sweeper = controlClock(world)
    alice = await world.connect("alice", "laptop")
    alert = rule("alert", "expire-at", isoAt(int(clock.seconds()) + 10))
    stored = storedEvent(world)
    alice.sendRaw(ampMessage("bob@localhost", [alert]))
    await stored
    # Gone from the server too, not only closed: the alert is for her bare JID.
    await leave(world.running, alice)

    storedAlert = storedEvent(world)
    clock.advance(11)
    await wait(sweeper.sweep())
    await storedAlert
    again = await world.connect("alice", "desk")
    element = await again.expect()
    assert element.get("to") == "alice@localhost"
    amp = element.find(q(NS_AMP, "amp"))
    assert (amp.get("status"), amp.get("from"), amp.get("to")) == ("alert", ALICE,
                                                                    "bob@localhost")
    assert [dict(r.attrib) for r in amp] == [alert]
    assert await again.roundTrip() == []
