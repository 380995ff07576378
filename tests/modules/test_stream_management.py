"""
XEP-0198 transcripts: bob enables stream management, loses his connection
and resumes, or does not come back in time; alice keeps writing to him.
Every message reaches him once: resent on resumption, or stored offline.
"""

import xml.etree.ElementTree as ET

import pytest

from tests.aio import asyncioTest
from tests.offline.transcript import body, connect, online, send, sendPresence, settle, storedCount
from tests.rawclient import NS_CLIENT, NS_SASL, RawClient, q

NS_SM = "urn:xmpp:sm:3"
BOB = "bob@localhost"


async def enable(client, resume=True):
    client.sendRaw("<enable xmlns='%s'%s/>" % (NS_SM, " resume='true'" if resume else ""))
    enabled = await client.expect()
    assert enabled.tag == q(NS_SM, "enabled"), ET.tostring(enabled)
    return enabled


async def messages(client, count, handled=None):
    """
    The next ``count`` messages. Without ``handled`` the client acknowledges
    nothing (<r/> is skipped); with it, ``handled[0]`` is its XEP-0198 count
    of stanzas received, kept up to date and sent in answer to <r/>.
    """
    received = []
    while len(received) < count:
        element = await client.expect()
        if element.tag == q(NS_SM, "r"):
            if handled is not None:
                client.sendRaw("<a xmlns='%s' h='%d'/>" % (NS_SM, handled[0]))
            continue
        if handled is not None and element.tag.startswith("{%s}" % NS_CLIENT):
            handled[0] += 1
        if element.tag in (q(NS_CLIENT, "presence"), q(NS_CLIENT, "iq")):
            continue
        assert element.tag == q(NS_CLIENT, "message"), ET.tostring(element)
        received.append(element)
    return received


async def authenticated(xmpp, name):
    """A new connection of ``name``, authenticated, its stream restarted, not bound."""
    client = await RawClient.connect(xmpp.port)
    await client.open()
    await client.starttls()
    result = await client.authenticate(name, "secret-" + name)
    assert result.tag == q(NS_SASL, "success")
    features = await client.open()
    assert features.find(q(NS_SM, "sm")) is not None, ET.tostring(features)
    client.name = name
    return client


async def waitUnbound(xmpp, jid):
    from twisted.internet.defer import Deferred

    from tests.aio import wait
    gone = Deferred()

    def onUnbound(session):
        if session.jid.full() == jid and not gone.called:
            gone.callback(None)

    host = xmpp.host()
    host.events.hook("resource-unbound", onUnbound, 1000)
    try:
        if host.sessions.get(jid) is not None:
            await wait(gone)
    finally:
        host.events.unhook("resource-unbound", onUnbound)


@pytest.mark.parametrize("backend", ["sqlite", "mysql"])
@asyncioTest
async def test_resumption_resends_every_unacked_message_once_in_order(serve, backend):
    xmpp = await serve(backend)
    alice = await online(xmpp, "alice")
    bob = await connect(xmpp, "bob", "phone")
    enabled = await enable(bob)
    assert enabled.get("resume") == "true" and enabled.get("id")
    await sendPresence(bob)
    for n in range(3):
        send(alice, BOB, "m%d" % n, "before %d" % n)
    first = await messages(bob, 3)
    assert [body(m) for m in first] == ["before 0", "before 1", "before 2"]
    # bob acknowledges his own presence and m0 (h=2), then his network goes.
    bob.sendRaw("<a xmlns='%s' h='2'/>" % NS_SM)
    assert [e.tag for e in await bob.roundTrip()] in ([], [q(NS_SM, "r")])
    bob.abort()
    for n in range(2):
        send(alice, BOB, "w%d" % n, "while away %d" % n)
    assert await alice.roundTrip() == []
    again = await authenticated(xmpp, "bob")
    again.sendRaw("<resume xmlns='%s' previd='%s' h='2'/>" % (NS_SM, enabled.get("id")))
    resumed = await again.expect()
    assert resumed.tag == q(NS_SM, "resumed"), ET.tostring(resumed)
    assert resumed.get("previd") == enabled.get("id")
    # bob sent presence, the <a/> is no stanza, and the ping of roundTrip.
    assert resumed.get("h") == "2"
    rest = await messages(again, 4)
    assert [m.get("id") for m in rest] == ["m1", "m2", "w0", "w1"]
    # m1, m2, the pong and w0, w1 came again: 2 + 5.
    again.sendRaw("<a xmlns='%s' h='7'/>" % NS_SM)
    send(alice, BOB, "after", "after")
    assert [m.get("id") for m in await messages(again, 1)] == ["after"]
    assert await storedCount(xmpp, "bob") == 0


@pytest.mark.parametrize("backend", ["sqlite", "mysql"])
@asyncioTest
async def test_session_not_resumed_in_time_stores_its_unacked_and_queued_messages(serve, backend):
    xmpp = await serve(backend, modules={"stream_management": {"resume_timeout": "1s"}})
    alice = await online(xmpp, "alice")
    bob = await connect(xmpp, "bob", "phone")
    await enable(bob)
    await sendPresence(bob)
    send(alice, BOB, "m0", "unacked")
    await messages(bob, 1)
    bob.abort()
    send(alice, BOB, "m1", "queued")
    assert await alice.roundTrip() == []
    await waitUnbound(xmpp, bob.jid)
    await settle(xmpp, "bob", alice)
    assert await storedCount(xmpp, "bob") == 2
    later = await online(xmpp, "bob", "laptop")
    delivered = await messages(later, 2)
    assert [m.get("id") for m in delivered] == ["m0", "m1"]
    assert all(m.find("{urn:xmpp:delay}delay") is not None for m in delivered)


@asyncioTest
async def test_resume_of_an_unknown_session_fails_item_not_found_and_bind_still_works(serve):
    xmpp = await serve("sqlite")
    client = await authenticated(xmpp, "bob")
    client.sendRaw("<resume xmlns='%s' previd='nope' h='0'/>" % NS_SM)
    failed = await client.expect()
    assert failed.tag == q(NS_SM, "failed")
    assert failed.find("{urn:ietf:params:xml:ns:xmpp-stanzas}item-not-found") is not None
    assert (await client.bind("r1")).startswith("bob@localhost/")


@asyncioTest
async def test_r_is_answered_with_the_stanzas_handled(serve):
    xmpp = await serve("sqlite")
    bob = await connect(xmpp, "bob")
    await enable(bob, resume=False)
    await sendPresence(bob)
    bob.sendRaw("<r xmlns='%s'/>" % NS_SM)
    answer = await bob.expect()
    assert answer.tag == q(NS_SM, "a") and answer.get("h") == "1", ET.tostring(answer)


@pytest.mark.parametrize("backend", ["sqlite", "mysql"])
@asyncioTest
async def test_drain_cut_by_a_reset_continues_after_resumption_exactly_once(serve, backend):
    # One part per batch: the 100 read are the whole batch, and nothing
    # follows the acknowledgement of 60 but the request for the rest.
    xmpp = await serve(backend, offline={"pair_limit": 1000, "delivery_batch": 100,
                                         "delivery_window": 1})
    alice = await online(xmpp, "alice")
    for n in range(300):
        send(alice, BOB, "s%d" % n, "stored %d" % n)
    assert await settle(xmpp, "bob", alice) == [[]]
    bob = await connect(xmpp, "bob", "phone")
    enabled = await enable(bob)
    await sendPresence(bob)
    first = await messages(bob, 100)
    # bob read 100 but acknowledges his presence and 60 of them, then the
    # connection resets.
    bob.sendRaw("<a xmlns='%s' h='61'/>" % NS_SM)
    assert [e.tag for e in await bob.roundTrip()] in ([], [q(NS_SM, "r")])
    bob.abort()
    again = await authenticated(xmpp, "bob")
    again.sendRaw("<resume xmlns='%s' previd='%s' h='61'/>" % (NS_SM, enabled.get("id")))
    assert (await again.expect()).tag == q(NS_SM, "resumed")
    handled = [61]
    rest = await messages(again, 240, handled)
    ids = [m.get("id") for m in first[:60] + rest]
    assert ids == ["s%d" % n for n in range(300)]
    # Acknowledge everything; the server then deletes every row.
    again.sendRaw("<a xmlns='%s' h='%d'/>" % (NS_SM, handled[0]))
    await settle(xmpp, "bob", again)
    assert await storedCount(xmpp, "bob") == 0
