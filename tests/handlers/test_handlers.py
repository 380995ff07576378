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
    await server.storage.users.create(ALICE, "secret")
    yield server
    await server.stop()


@pytest_twisted.async_yield_fixture
async def limits(tmp_path):
    server = PipeServer(tmp_path, {"offline": {"user_limits": True, "pair_limit": 7}})
    await server.start()
    yield server
    await server.stop()


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
    alice.send(msgoffline("get"))
    [reply] = await alice.expect()
    assert reply["type"] == "result" and reply.msgoffline["limit"] == "7"


@pytest_twisted.ensureDeferred
async def test_msgoffline_set_stores_the_users_own_limit(limits):
    alice = limits.connect(ALICE + "/phone")
    alice.send(msgoffline("set", limit="0012"))
    [reply] = await alice.expect()
    assert reply["type"] == "result" and reply.msgoffline["limit"] == "12"
    assert await limits.storage.settings.get(ALICE, "offline-msgs", "store-limit") == "12"
    alice.send(msgoffline("get"))
    [reply] = await alice.expect()
    assert reply.msgoffline["limit"] == "12"


@pytest_twisted.ensureDeferred
async def test_msgoffline_set_is_not_allowed_without_user_limits(pipes):
    alice = pipes.connect(ALICE + "/phone")
    alice.send(msgoffline("set", limit="5"))
    [reply] = await alice.expect()
    assert condition(reply) == "not-allowed"


@pytest_twisted.ensureDeferred
async def test_msgoffline_of_another_account_is_forbidden(pipes):
    alice = pipes.connect(ALICE + "/phone")
    alice.send(msgoffline("get", to="bob@localhost"))
    [reply] = await alice.expect()
    assert condition(reply) == "forbidden"


@pytest_twisted.ensureDeferred
async def test_msgoffline_without_offline_storage_is_not_implemented(tmp_path):
    server = PipeServer(tmp_path, {"offline": {"enabled": False}})
    await server.start()
    try:
        alice = server.connect(ALICE + "/phone")
        alice.send(msgoffline("get"))
        [reply] = await alice.expect()
        assert condition(reply) == "feature-not-implemented"
    finally:
        await server.stop()


# On an account's behalf (RFC 6121 §8.5.1) ------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_ping_to_an_account_is_answered_by_the_server(pipes):
    bob = pipes.connect("bob@localhost/laptop")
    bob.send("<iq xmlns='jabber:client' type='get' id='p1' to='%s'>"
             "<ping xmlns='urn:xmpp:ping'/></iq>" % ALICE)
    [reply] = await bob.expect()
    assert (reply["type"], reply["id"], reply["from"]) == ("result", "p1", ALICE)


@pytest_twisted.ensureDeferred
async def test_ping_to_an_account_that_does_not_exist_is_service_unavailable(pipes):
    bob = pipes.connect("bob@localhost/laptop")
    bob.send("<iq xmlns='jabber:client' type='get' id='p2' to='nobody@localhost'>"
             "<ping xmlns='urn:xmpp:ping'/></iq>")
    [reply] = await bob.expect()
    assert condition(reply) == "service-unavailable"


@pytest_twisted.ensureDeferred
async def test_version_of_an_account_is_the_servers(pipes):
    bob = pipes.connect("bob@localhost/laptop")
    bob.send("<iq xmlns='jabber:client' type='get' id='v1' to='%s'>"
             "<query xmlns='jabber:iq:version'/></iq>" % ALICE)
    [reply] = await bob.expect()
    assert reply["type"] == "result"
    fields = {child.name: str(child) for child in reply.query.elements()}
    assert (fields["name"], fields["version"]) == ("xmppd", VERSION)


# The roster IQ (RFC 6121 §2) ---------------------------------------------------------------


def rosterGet(id):
    return "<iq xmlns='jabber:client' type='get' id='%s'><query xmlns='jabber:iq:roster'/></iq>" % id


def items(iq):
    return [(i["jid"], i.getAttribute("name"), i.getAttribute("subscription"),
             [str(g) for g in i.elements()])
            for i in iq.query.elements()]


@pytest_twisted.ensureDeferred
async def test_roster_set_is_pushed_then_answered_and_the_get_lists_it(pipes):
    phone = pipes.connect(ALICE + "/phone")
    phone.send(rosterGet("g1"))
    [empty] = await phone.expect()
    assert empty["type"] == "result" and items(empty) == []
    phone.send("<iq xmlns='jabber:client' type='set' id='s1'><query xmlns='jabber:iq:roster'>"
               "<item jid='bob@localhost' name='Bob'><group>Friends</group></item>"
               "</query></iq>")
    push, result = await phone.expect(2)
    assert push["type"] == "set"
    assert items(push) == [("bob@localhost", "Bob", None, ["Friends"])]
    assert (result["type"], result["id"]) == ("result", "s1")
    phone.send(rosterGet("g2"))
    [listed] = await phone.expect()
    assert items(listed) == [("bob@localhost", "Bob", None, ["Friends"])]


@pytest_twisted.ensureDeferred
async def test_roster_set_of_two_items_is_a_bad_request(pipes):
    phone = pipes.connect(ALICE + "/phone")
    phone.send("<iq xmlns='jabber:client' type='set' id='s2'><query xmlns='jabber:iq:roster'>"
               "<item jid='bob@localhost'/><item jid='carol@localhost'/></query></iq>")
    [reply] = await phone.expect()
    assert condition(reply) == "bad-request"


@pytest_twisted.ensureDeferred
async def test_removing_an_item_not_on_the_roster_is_item_not_found(pipes):
    phone = pipes.connect(ALICE + "/phone")
    phone.send("<iq xmlns='jabber:client' type='set' id='r1'><query xmlns='jabber:iq:roster'>"
               "<item jid='bob@localhost' subscription='remove'/></query></iq>")
    [reply] = await phone.expect()
    assert condition(reply) == "item-not-found"


# The host's clock -----------------------------------------------------------------------------


@pytest.mark.parametrize("seconds, stamp", [(0, "1970-01-01T00:00:00.000Z"),
                                            (86400 * 365 + 61, "1971-01-01T00:01:01.000Z")])
@pytest_twisted.ensureDeferred
async def test_entity_time_is_the_hosts_clock(pipes, seconds, stamp):
    pipes.clock.advance(seconds)
    alice = pipes.connect(ALICE + "/phone")
    alice.send("<iq xmlns='jabber:client' type='get' id='t1' to='localhost'>"
               "<time xmlns='urn:xmpp:time'/></iq>")
    [reply] = alice.take()
    assert str(reply.time.utc) == stamp
