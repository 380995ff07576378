"""
Users on different nodes of one cluster (issue 17): three xmppd processes
on one Redis and one MariaDB, real clients over TCP and TLS. Each test is a
conversation between named clients, each logged in on a named node.
"""

import asyncio
import xml.etree.ElementTree as ET

from tests.aio import asyncioTest
from tests.modules.test_roster import (
    expectPresence,
    expectPush,
    login,
    online,
    subscribeBothWays,
)
from tests.rawclient import NS_CLIENT, RawClient, q, stanzaErrorCondition
from tests.reliability.common import waitStored

ALICE, BOB, CAROL = "alice@localhost", "bob@localhost", "carol@localhost"


async def expectMessage(client, sender, body, timeout=10):
    message = await client.expect(timeout)
    assert message.tag == q(NS_CLIENT, "message"), ET.tostring(message)
    assert message.get("from") == sender, ET.tostring(message)
    assert message.findtext(q(NS_CLIENT, "body")) == body, ET.tostring(message)
    return message


async def untilRegistered(cluster, full, available=True, timeout=5, node=None):
    """Wait until the registry in Redis has ``full`` (available, on ``node``, if asked)."""
    import json
    bare = full.split("/")[0]
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        raw = cluster.redis.command("HGET", "xmppd:sessions:" + bare, full)
        state = json.loads(raw) if raw is not None else None
        if state is not None and (not available or state["available"]) and \
                node in (None, state["node"]):
            return state
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("%s never registered" % full)
        await asyncio.sleep(0.02)


@asyncioTest
async def test_users_on_different_nodes_chat_both_ways(cluster):
    nodes = await cluster(3)
    alice = await online(nodes[0], "alice", "desk")
    bob = await online(nodes[1], "bob", "phone")
    await untilRegistered(nodes, "bob@localhost/phone")

    alice.sendRaw("<message to='bob@localhost' type='chat' id='a1'><body>hi bob</body></message>")
    await expectMessage(bob, "alice@localhost/desk", "hi bob")
    bob.sendRaw("<message to='alice@localhost/desk' type='chat' id='b1'>"
                "<body>hi alice</body></message>")
    await expectMessage(alice, "bob@localhost/phone", "hi alice")
    assert await alice.roundTrip() == [] and await bob.roundTrip() == []


@asyncioTest
async def test_an_iq_to_a_full_jid_on_another_node_is_answered_by_that_client(cluster):
    nodes = await cluster(3)
    alice = await online(nodes[0], "alice", "desk")
    carol = await online(nodes[2], "carol", "tablet")
    await untilRegistered(nodes, "carol@localhost/tablet")

    alice.sendRaw("<iq to='carol@localhost/tablet' type='get' id='v1'>"
                  "<query xmlns='jabber:iq:version'/></iq>")
    request = await carol.expect()
    assert (request.tag, request.get("from"), request.get("id")) == (
        q(NS_CLIENT, "iq"), "alice@localhost/desk", "v1"), ET.tostring(request)
    carol.sendRaw("<iq to='alice@localhost/desk' type='result' id='v1'>"
                  "<query xmlns='jabber:iq:version'><name>raw</name></query></iq>")
    answer = await alice.expect()
    assert (answer.get("type"), answer.get("from"), answer.get("id")) == (
        "result", "carol@localhost/tablet", "v1"), ET.tostring(answer)

    # To a resource bound nowhere: the server answers (RFC 6121 §8.5.3.1).
    alice.sendRaw("<iq to='carol@localhost/gone' type='get' id='v2'>"
                  "<query xmlns='jabber:iq:version'/></iq>")
    error = await alice.expect()
    assert error.get("id") == "v2"
    assert stanzaErrorCondition(error) == ("cancel", "service-unavailable")


@asyncioTest
async def test_users_on_different_nodes_subscribe_and_see_each_others_presence(cluster):
    nodes = await cluster(3)
    alice = await online(nodes[0], "alice", "desk")
    bob = await online(nodes[1], "bob", "phone")
    await untilRegistered(nodes, "alice@localhost/desk")
    await untilRegistered(nodes, "bob@localhost/phone")
    await subscribeBothWays(alice, bob)

    # An update on node 2 reaches node 1.
    bob.sendRaw("<presence><show>away</show></presence>")
    await expectPresence(bob, "bob@localhost/phone")
    update = await expectPresence(alice, "bob@localhost/phone", to=ALICE)
    assert update.findtext(q(NS_CLIENT, "show")) == "away"

    # bob logs in again on node 3: alice sees him come, and he sees her.
    await untilRegistered(nodes, "bob@localhost/phone")
    tablet = await login(nodes[2], "bob", "tablet")
    tablet.sendRaw("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
    assert (await tablet.expect()).get("type") == "result"
    tablet.sendRaw("<presence/>")
    seen = {}
    for _ in range(3):
        presence = await tablet.expect()
        assert presence.tag == q(NS_CLIENT, "presence"), ET.tostring(presence)
        seen[presence.get("from")] = presence.get("type")
    assert seen == {"bob@localhost/tablet": None, "bob@localhost/phone": None,
                    "alice@localhost/desk": None}
    await expectPresence(alice, "bob@localhost/tablet", to=ALICE)
    await expectPresence(bob, "bob@localhost/tablet", to="bob@localhost/phone")

    # He leaves node 2: both see him go.
    await bob.close()
    await expectPresence(alice, "bob@localhost/phone", "unavailable")
    await expectPresence(tablet, "bob@localhost/phone", "unavailable")
    assert await alice.roundTrip() == [] and await tablet.roundTrip() == []


@asyncioTest
async def test_offline_messages_stored_via_node_1_are_delivered_at_a_login_on_node_3(cluster):
    nodes = await cluster(3)
    alice = await online(nodes[0], "alice", "desk")
    for n in range(5):
        alice.sendRaw("<message to='bob@localhost' type='chat' id='o%d'><body>stored %d</body>"
                      "</message>" % (n, n))
    assert await alice.roundTrip() == []
    assert await waitStored(nodes[0], "bob", 5, timeout=5) == 5

    bob = await login(nodes[2], "bob", "phone")
    bob.sendRaw("<presence/>")
    await expectPresence(bob, "bob@localhost/phone")
    for n in range(5):
        message = await expectMessage(bob, "alice@localhost/desk", "stored %d" % n)
        assert message.find("{urn:xmpp:delay}delay") is not None
    # Answered by the client's acknowledgement probe: then they are gone.
    deadline = asyncio.get_running_loop().time() + 5
    while await nodes.storedCount("bob") and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    assert await nodes.storedCount("bob") == 0

    # And once online there, the next one from node 1 comes live.
    alice.sendRaw("<message to='bob@localhost' type='chat' id='live'><body>live</body></message>")
    await expectMessage(bob, "alice@localhost/desk", "live")


@asyncioTest
async def test_the_same_full_jid_bound_on_another_node_replaces_the_first(cluster):
    nodes = await cluster(2)
    first = await online(nodes[0], "bob", "phone")
    await untilRegistered(nodes, "bob@localhost/phone")
    second = await login(nodes[1], "bob", "phone")
    # RFC 6120 §7.7.2.2: the old session is closed with <conflict/>.
    await first.expectStreamError("conflict")
    # Node 2 writes its session once node 1 has let go of the full JID.
    state = await untilRegistered(nodes, "bob@localhost/phone", available=False,
                                  node="node2")
    assert not state.get("draining")
    second.sendRaw("<presence/>")
    await expectPresence(second, "bob@localhost/phone")
    assert await second.roundTrip() == []


@asyncioTest
async def test_a_resumption_on_another_node_fails_and_the_unacked_go_to_storage(cluster):
    from tests.reliability.common import connect, cut
    nodes = await cluster(2, config={"modules.stream_management": {"resume_timeout": 1}})
    alice = await online(nodes[0], "alice", "desk")
    phone = await connect(nodes[1], ("bob", "secret-bob"), "phone")
    enabled = await phone.enableSM(resume=True)
    assert enabled.get("resume") == "true"
    phone.sendRaw("<presence/>")
    await phone.expect()
    await untilRegistered(nodes, "bob@localhost/phone")
    phone.autoAck = False
    alice.sendRaw("<message to='bob@localhost' type='chat' id='u1'><body>unacked</body></message>")
    await expectMessage(phone, "alice@localhost/desk", "unacked")
    previous = phone.sm
    phone.reset()

    # Node 1 does not hold the session: XEP-0198 §5 item-not-found.
    elsewhere = await RawClient.connect(nodes[0].port)
    await elsewhere.authenticated("bob", "secret-bob")
    failed = await elsewhere.resumeSM(previous)
    assert failed.tag == "{urn:xmpp:sm:3}failed", ET.tostring(failed)
    assert failed.find("{urn:ietf:params:xml:ns:xmpp-stanzas}item-not-found") is not None
    elsewhere.abort()

    # After the timeout on node 2, what the phone never acknowledged is stored.
    deadline = asyncio.get_running_loop().time() + 10
    while await nodes.storedCount("bob") < 1 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)
    assert await nodes.storedBodies("bob") == ["unacked"]
