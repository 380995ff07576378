"""
Federation with another implementation: xmppd serving a.test and Debian's
ejabberd serving e.test, over real s2s streams (STARTTLS, certificates
from the test CA, SASL EXTERNAL both ways).
"""

import asyncio
import xml.etree.ElementTree as ET

import pytest

from tests.aio import asyncioTest
from tests.conftest import BACKENDS
from tests.offline.transcript import (assertOfflineCopy, body, expectMessages, send,
                                      sendPresence)
from tests.rawclient import NS_CLIENT, NS_SASL, RawClient, q
from tests.s2s.test_federation import online

NS_REGISTER = "jabber:iq:register"
NS_DELAY = "urn:xmpp:delay"


async def ejabberdUser(e, name, register=False):
    """A bound resource of ``name@e.test`` on ejabberd, registered in-band first."""
    client = await RawClient.connect(e.c2sPort)
    client.name = "%s@%s" % (name, e.domain)
    await client.open(e.domain)
    await client.starttls()
    if register:
        client.sendRaw("<iq type='set' id='reg1'><query xmlns='%s'><username>%s</username>"
                       "<password>secret-%s</password></query></iq>" % (NS_REGISTER, name, name))
        reply = await client.expect()
        assert reply.get("type") == "result", ET.tostring(reply)
    result = await client.authenticate(name, "secret-" + name)
    assert result.tag == q(NS_SASL, "success"), ET.tostring(result)
    await client.open(e.domain)
    await client.bind("r1")
    return client


async def pingDomain(client, domain, iqId):
    """An IQ to a remote domain and its answer: the s2s streams both ways carry traffic."""
    client.sendRaw("<iq type='get' id='%s' to='%s'><ping xmlns='urn:xmpp:ping'/></iq>"
                   % (iqId, domain))
    while True:
        reply = await client.expect()
        if reply.tag == q(NS_CLIENT, "iq") and reply.get("id") == iqId:
            assert (reply.get("type"), reply.get("from")) == ("result", domain), ET.tostring(reply)
            return


@asyncioTest
async def test_chat_both_ways_between_xmppd_and_ejabberd(federate_ejabberd):
    a, e = await federate_ejabberd()
    alice = await online(a, "alice")
    erin = await ejabberdUser(e, "erin", register=True)
    await sendPresence(erin)

    send(alice, "erin@e.test/r1", "x1", "hello ejabberd")
    [received] = await expectMessages(erin, 1)
    assert (received.get("from"), body(received)) == ("alice@a.test/r1", "hello ejabberd")

    send(erin, "alice@a.test/r1", "x2", "hello xmppd")
    [received] = await expectMessages(alice, 1)
    assert (received.get("from"), body(received)) == ("erin@e.test/r1", "hello xmppd")
    assert await alice.roundTrip() == []
    assert a.logged(r"stream from a\.test to e\.test authenticated by certificate")
    assert a.logged(r"incoming stream from e\.test to a\.test authenticated by certificate")


@asyncioTest
async def test_offline_message_from_xmppd_is_delivered_at_login_on_ejabberd(federate_ejabberd):
    a, e = await federate_ejabberd()
    erin = await ejabberdUser(e, "erin", register=True)
    await erin.close()
    alice = await online(a, "alice")
    send(alice, "erin@e.test", "x3", "stored by ejabberd")
    # ejabberd handles its s2s stream in order: once it answered the ping
    # it had taken the message.
    await pingDomain(alice, "e.test", "p1")

    erin = await ejabberdUser(e, "erin")
    # ejabberd writes stored messages before reflecting the initial presence.
    erin.sendRaw("<presence/>")
    [received] = await expectMessages(erin, 1)
    assert (received.get("from"), received.get("id"), body(received)) == (
        "alice@a.test/r1", "x3", "stored by ejabberd")
    delay = received.find(q(NS_DELAY, "delay"))
    assert delay is not None and delay.get("stamp"), ET.tostring(received)


@pytest.mark.parametrize("backend", BACKENDS)
@asyncioTest
async def test_offline_message_from_ejabberd_is_stored_and_delivered_at_login_on_xmppd(
        federate_ejabberd, backend):
    a, e = await federate_ejabberd(backend)
    erin = await ejabberdUser(e, "erin", register=True)
    send(erin, "bob@a.test", "x4", "stored by xmppd")
    assert await a.storedOffline("bob@a.test", 1) == 1

    bob = await online(a, "bob")
    [received] = await expectMessages(bob, 1)
    assertOfflineCopy(received, "erin@e.test/r1", "x4", "stored by xmppd", host="a.test")
    assert await bob.roundTrip() == []
