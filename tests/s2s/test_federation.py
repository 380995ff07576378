"""
Two xmppd processes, a.test and b.test, federating over real s2s streams
on 127.0.0.1: certificates from a test CA, STARTTLS, SASL EXTERNAL.
"""

import asyncio
import subprocess
import sys

import pytest

from tests.aio import asyncioTest
from tests.conftest import BACKENDS
from tests.modules.test_amp import NS_AMP, ampMessage, rule
from tests.modules.test_roster import expectPresence, expectPush, item, rosterGet
from tests.offline.transcript import (assertBounce, assertOfflineCopy, body, expectMessages,
                                      send, sendPresence)
from tests.rawclient import NS_CLIENT, q
from tests.s2s.federation import ENV, freePort


@asyncioTest
async def test_chat_both_ways_between_a_and_b(federate):
    a, b = await federate()
    alice = await a.login("alice")
    bob = await b.login("bob")
    await sendPresence(alice)
    await sendPresence(bob)

    send(alice, "bob@b.test/r1", "m1", "hello from a")
    [received] = await expectMessages(bob, 1)
    assert received.get("from") == "alice@a.test/r1"
    assert received.get("to") == "bob@b.test/r1"
    assert body(received) == "hello from a"

    send(bob, "alice@a.test/r1", "m2", "hello from b")
    [received] = await expectMessages(alice, 1)
    assert received.get("from") == "bob@b.test/r1"
    assert body(received) == "hello from b"
    assert await alice.roundTrip() == []
    assert await bob.roundTrip() == []
    assert a.logged(r"stream from a\.test to b\.test authenticated by certificate")
    assert b.logged(r"stream from b\.test to a\.test authenticated by certificate")


async def online(server, name, resource="r1"):
    """Logged in, roster requested, initial presence sent and reflected."""
    client = await server.login(name, resource)
    await rosterGet(client)
    client.sendRaw("<presence/>")
    await expectPresence(client, "%s/%s" % (client.name, resource))
    return client


@pytest.mark.parametrize("backend", BACKENDS)
@asyncioTest
async def test_offline_message_from_a_is_delivered_at_login_on_b_with_its_delay(
        federate, backend):
    a, b = await federate(backend)
    alice = await online(a, "alice")
    send(alice, "bob@b.test", "off1", "while you were out")
    # The second asks b to tell alice once it is stored (XEP-0079 notify):
    # b's AMP reply crossing back over s2s is the proof both were stored.
    notify = rule("notify", "deliver", "stored")
    alice.sendRaw(ampMessage("bob@b.test", [notify], id="off2", body="and again"))
    [reply] = await expectMessages(alice, 1)
    assert (reply.get("from"), reply.get("id"), reply.get("type")) == ("b.test", "off2", None)
    amp = reply.find(q(NS_AMP, "amp"))
    assert (amp.get("status"), amp.get("from"), amp.get("to")) == (
        "notify", "alice@a.test/r1", "bob@b.test")
    assert [dict(r.attrib) for r in amp] == [notify]
    assert await alice.roundTrip() == []

    bob = await online(b, "bob")
    first, second = await expectMessages(bob, 2)
    assertOfflineCopy(first, "alice@a.test/r1", "off1", "while you were out", host="b.test")
    assertOfflineCopy(second, "alice@a.test/r1", "off2", "and again", host="b.test")
    assert second.find(q(NS_AMP, "amp")) is not None
    assert await bob.roundTrip() == []


@asyncioTest
async def test_bounce_from_b_reaches_the_sender_on_a(federate):
    a, b = await federate()
    alice = await online(a, "alice")
    send(alice, "nobody@b.test", "lost1", "anyone there?")
    [bounce] = await expectMessages(alice, 1)
    assertBounce(bounce, "lost1", "service-unavailable", sender="nobody@b.test",
                 body="anyone there?")
    assert await alice.roundTrip() == []


@pytest.mark.parametrize("backend", BACKENDS)
@asyncioTest
async def test_presence_subscription_across_domains(federate, backend):
    a, b = await federate(backend)
    alice = await online(a, "alice")
    bob = await online(b, "bob")

    alice.sendRaw("<presence to='bob@b.test' type='subscribe'/>")
    assert await expectPush(alice) == item("bob@b.test", ask="subscribe")
    await expectPresence(bob, "alice@a.test", "subscribe", to="bob@b.test")

    bob.sendRaw("<presence to='alice@a.test' type='subscribed'/>")
    assert await expectPush(bob) == item("alice@a.test", subscription="from")
    assert await expectPush(alice) == item("bob@b.test", subscription="to")
    await expectPresence(alice, "bob@b.test", "subscribed")
    await expectPresence(alice, "bob@b.test/r1", to="alice@a.test")

    # From now on alice sees bob's presence updates, across the s2s stream.
    bob.sendRaw("<presence><show>away</show></presence>")
    await expectPresence(bob, "bob@b.test/r1")
    update = await expectPresence(alice, "bob@b.test/r1", to="alice@a.test")
    assert update.findtext(q(NS_CLIENT, "show")) == "away"
    assert await alice.roundTrip() == [] and await bob.roundTrip() == []


@pytest.mark.parametrize("backend", BACKENDS)
@asyncioTest
async def test_subscription_request_from_a_to_an_offline_user_on_b_waits_for_login(
        federate, backend):
    a, b = await federate(backend)
    alice = await online(a, "alice")
    alice.sendRaw("<presence to='bob@b.test' type='subscribe'><status>it is alice</status>"
                  "</presence>")
    assert await expectPush(alice) == item("bob@b.test", ask="subscribe")
    assert await b.pendingSubscriptions("bob@b.test", ["alice@a.test"]) == ["alice@a.test"]

    bob = await online(b, "bob")
    request = await expectPresence(bob, "alice@a.test", "subscribe", to="bob@b.test")
    assert request.findtext(q(NS_CLIENT, "status")) == "it is alice"
    bob.sendRaw("<presence to='alice@a.test' type='subscribed'/>")
    assert await expectPush(bob) == item("alice@a.test", subscription="from")
    assert await expectPush(alice) == item("bob@b.test", subscription="to")
    await expectPresence(alice, "bob@b.test", "subscribed")
    await expectPresence(alice, "bob@b.test/r1", to="alice@a.test")


@asyncioTest
async def test_xmppctl_s2s_shows_the_streams_and_how_they_were_authenticated(federate):
    a, b = await federate()
    alice = await online(a, "alice")
    send(alice, "nobody@b.test", "ctl1", "open the streams")
    await expectMessages(alice, 1)   # b's bounce: both streams are up
    result = subprocess.run([sys.executable, "-m", "xmppd.ctl", "-c", str(a.configPath), "s2s"],
                            capture_output=True, text=True, env=ENV, timeout=60)
    assert result.returncode == 0, result.stderr
    header, *rows = [line.split() for line in result.stdout.splitlines()]
    assert header == ["DIRECTION", "LOCAL", "REMOTE", "AUTH", "SINCE", "ADDRESS"]
    assert [row[:4] for row in rows] == [["in", "a.test", "b.test", "certificate"],
                                         ["out", "a.test", "b.test", "certificate"]]
    assert rows[1][5] == "127.0.0.1:%d" % b.s2sPort

    await a.stop()
    result = subprocess.run([sys.executable, "-m", "xmppd.ctl", "-c", str(a.configPath), "s2s"],
                            capture_output=True, text=True, env=ENV, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith("xmppctl: xmppd is not running"), result.stderr


@asyncioTest
async def test_metrics_count_s2s_stanzas_in_and_out(federate):
    metricsPort = freePort()

    async def scrape():
        reader, writer = await asyncio.open_connection("127.0.0.1", metricsPort)
        writer.write(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        text = (await reader.read()).decode()
        writer.close()
        return {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
                if line.startswith("xmppd_s2s_")}

    a, b = await federate(beforeStart=lambda a, b: a.extraTables.update(
        {"metrics": {"enabled": True, "listen": "127.0.0.1:%d" % metricsPort}}))
    alice = await online(a, "alice")
    bob = await online(b, "bob")
    for n in range(3):
        send(alice, "bob@b.test/r1", "mt%d" % n, "count me")
    await expectMessages(bob, 3)
    send(bob, "alice@a.test/r1", "mt9", "and me")
    await expectMessages(alice, 1)
    metrics = await scrape()
    assert metrics["xmppd_s2s_stanzas_out_total"] == 3
    assert metrics["xmppd_s2s_stanzas_in_total"] == 1
    assert metrics['xmppd_s2s_connections{direction="out"}'] == 1
    assert metrics['xmppd_s2s_connections{direction="in"}'] == 1
