"""
Handlers on in-memory pipes (tests/handlers/pipes.py): msgoffline, ping and
version answered on an account's behalf, the roster IQ, entity time on the
host's clock. No sockets, no TLS, no SASL: the whole file runs in seconds.
"""

import pytest
import pytest_twisted

from xmppd.api import VERSION

from tests.handlers.pipes import PipeServer

NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
ALICE = "alice@localhost"


@pytest_twisted.async_yield_fixture
async def pipes(tmp_path):
    server = PipeServer(tmp_path)
    await server.start()
    await server.server.accounts.create(ALICE, "secret")
    yield server
    await server.stop()


@pytest_twisted.async_yield_fixture
async def limits(tmp_path):
    server = PipeServer(tmp_path, {"offline": {"user_limits": True, "pair_limit": 7}})
    await server.start()
    yield server
    await server.stop()


async def answer(client, xml):
    """Send one stanza as ``client`` and fire the one stanza it gets back."""
    client.send(xml)
    [reply] = await client.expect()
    return reply


def condition(stanza):
    """The RFC 6120 §8.3 condition of an error reply."""
    assert stanza.getAttribute("type") == "error", stanza.toXml()
    return next(c.name for c in stanza.error.elements() if c.uri == NS_STANZAS)


def msgoffline(kind, to=ALICE, limit=None):
    attribute = "" if limit is None else " limit='%s'" % limit
    return ("<iq xmlns='jabber:client' type='%s' id='m1' to='%s'>"
            "<msgoffline xmlns='msgoffline'%s/></iq>" % (kind, to, attribute))


# msgoffline (SPEC §4) ---------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_msgoffline_get_answers_the_configured_pair_limit(limits):
    alice = limits.connect(ALICE + "/phone")
    reply = await answer(alice, msgoffline("get"))
    assert reply["type"] == "result" and reply.msgoffline["limit"] == "7"


@pytest_twisted.ensureDeferred
async def test_msgoffline_set_stores_the_users_own_limit(limits):
    alice = limits.connect(ALICE + "/phone")
    reply = await answer(alice, msgoffline("set", limit="0012"))
    assert reply["type"] == "result" and reply.msgoffline["limit"] == "12"
    assert await limits.storage.settings.get(ALICE, "offline-msgs", "store-limit") == "12"
    reply = await answer(alice, msgoffline("get"))
    assert reply.msgoffline["limit"] == "12"


@pytest_twisted.ensureDeferred
async def test_msgoffline_set_is_not_allowed_without_user_limits(pipes):
    alice = pipes.connect(ALICE + "/phone")
    reply = await answer(alice, msgoffline("set", limit="5"))
    assert condition(reply) == "not-allowed"


@pytest_twisted.ensureDeferred
async def test_msgoffline_of_another_account_is_forbidden(pipes):
    alice = pipes.connect(ALICE + "/phone")
    reply = await answer(alice, msgoffline("get", to="bob@localhost"))
    assert condition(reply) == "forbidden"


@pytest_twisted.ensureDeferred
async def test_msgoffline_without_offline_storage_is_not_implemented(tmp_path):
    server = PipeServer(tmp_path, {"offline": {"enabled": False}})
    await server.start()
    try:
        reply = await answer(server.connect(ALICE + "/phone"), msgoffline("get"))
        assert condition(reply) == "feature-not-implemented"
    finally:
        await server.stop()


# On an account's behalf (RFC 6121 §8.5.1) ------------------------------------------------


def iq(kind, id, payload, to=None):
    address = "" if to is None else " to='%s'" % to
    return "<iq xmlns='jabber:client' type='%s' id='%s'%s>%s</iq>" % (kind, id, address, payload)


PING = "<ping xmlns='urn:xmpp:ping'/>"


@pytest_twisted.ensureDeferred
async def test_ping_to_an_account_is_answered_by_the_server(pipes):
    bob = pipes.connect("bob@localhost/laptop")
    reply = await answer(bob, iq("get", "p1", PING, to=ALICE))
    assert (reply["type"], reply["id"], reply["from"]) == ("result", "p1", ALICE)


@pytest_twisted.ensureDeferred
async def test_ping_to_an_account_that_does_not_exist_is_service_unavailable(pipes):
    bob = pipes.connect("bob@localhost/laptop")
    reply = await answer(bob, iq("get", "p2", PING, to="nobody@localhost"))
    assert condition(reply) == "service-unavailable"


@pytest_twisted.ensureDeferred
async def test_version_of_an_account_is_the_servers(pipes):
    bob = pipes.connect("bob@localhost/laptop")
    reply = await answer(bob, iq("get", "v1", "<query xmlns='jabber:iq:version'/>", to=ALICE))
    assert reply["type"] == "result"
    fields = {child.name: str(child) for child in reply.query.elements()}
    assert (fields["name"], fields["version"]) == ("xmppd", VERSION)


# The roster IQ (RFC 6121 §2) ---------------------------------------------------------------


def roster(kind, id, items=""):
    return iq(kind, id, "<query xmlns='jabber:iq:roster'>%s</query>" % items)


def itemsOf(reply):
    return [(i["jid"], i.getAttribute("name"), i.getAttribute("subscription"),
             [str(g) for g in i.elements()])
            for i in reply.query.elements()]


BOB_IN_FRIENDS = [("bob@localhost", "Bob", "none", ["Friends"])]


@pytest_twisted.ensureDeferred
async def test_roster_set_is_pushed_then_answered_and_the_get_lists_it(pipes):
    phone = pipes.connect(ALICE + "/phone")
    empty = await answer(phone, roster("get", "g1"))
    assert empty["type"] == "result" and itemsOf(empty) == []
    phone.send(roster("set", "s1", "<item jid='bob@localhost' name='Bob'>"
                                   "<group>Friends</group></item>"))
    push, result = await phone.expect(2)
    assert push["type"] == "set" and itemsOf(push) == BOB_IN_FRIENDS
    assert (result["type"], result["id"]) == ("result", "s1")
    listed = await answer(phone, roster("get", "g2"))
    assert itemsOf(listed) == BOB_IN_FRIENDS


@pytest.mark.parametrize("items, error", [
    ("<item jid='bob@localhost'/><item jid='carol@localhost'/>", "bad-request"),
    ("<item jid='bob@localhost' subscription='remove'/>", "item-not-found"),
])
@pytest_twisted.ensureDeferred
async def test_a_roster_set_that_cannot_be_done_is_an_error(pipes, items, error):
    phone = pipes.connect(ALICE + "/phone")
    reply = await answer(phone, roster("set", "s2", items))
    assert condition(reply) == error


# The host's clock -----------------------------------------------------------------------------


@pytest.mark.parametrize("seconds, stamp", [(0, "1970-01-01T00:00:00.000Z"),
                                            (86400 * 365 + 61, "1971-01-01T00:01:01.000Z")])
@pytest_twisted.ensureDeferred
async def test_entity_time_is_the_hosts_clock(pipes, seconds, stamp):
    pipes.clock.advance(seconds)
    alice = pipes.connect(ALICE + "/phone")
    alice.send(iq("get", "t1", "<time xmlns='urn:xmpp:time'/>", to="localhost"))
    # Answered at once: no database, no timer.
    [reply] = alice.take()
    assert str(reply.time.utc) == stamp
