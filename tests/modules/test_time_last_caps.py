"""
Entity Time (XEP-0202), Last Activity (XEP-0012) and the server's Entity
Capabilities (XEP-0115) in the stream features, as transcripts.
"""

import base64
import datetime
import hashlib
import re
import xml.etree.ElementTree as ET

from tests.aio import asyncioTest, wait
from tests.modules.test_on_behalf import ask, loggedIn
from tests.rawclient import RawClient, q, stanzaErrorCondition

NS_TIME = "urn:xmpp:time"
NS_LAST = "jabber:iq:last"
NS_CAPS = "http://jabber.org/protocol/caps"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
LAST = "<query xmlns='jabber:iq:last'/>"


async def subscribe(xmpp, owner, contact):
    """Give ``contact`` a subscription to ``owner``'s presence (both ways)."""
    from xmppd.storage.roster import RosterRow

    def both(old):
        return old.__class__(RosterRow(contact, subscriptionTo=True, subscriptionFrom=True),
                             None)
    await wait(xmpp.storage.roster.transition(owner, contact, both))


@asyncioTest
async def test_time_to_the_domain_is_the_server_clock_in_utc(xmpp):
    alice = await loggedIn(xmpp, "alice")
    before = datetime.datetime.now(datetime.timezone.utc)
    reply = await ask(alice, "localhost", "<time xmlns='urn:xmpp:time'/>")
    after = datetime.datetime.now(datetime.timezone.utc)
    assert (reply.get("type"), reply.get("from")) == ("result", "localhost")
    time = reply.find(q(NS_TIME, "time"))
    assert time.findtext(q(NS_TIME, "tzo")) == "+00:00"
    utc = time.findtext(q(NS_TIME, "utc"))
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", utc), utc
    moment = datetime.datetime.strptime(utc, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)
    assert before - datetime.timedelta(milliseconds=1) <= moment <= after
    await alice.close()


@asyncioTest
async def test_time_to_an_account_bare_jid_is_service_unavailable(xmpp):
    alice = await loggedIn(xmpp, "alice")
    reply = await ask(alice, "bob@localhost", "<time xmlns='urn:xmpp:time'/>")
    assert stanzaErrorCondition(reply) == ("cancel", "service-unavailable")
    await alice.close()


@asyncioTest
async def test_last_to_the_domain_is_the_server_uptime(xmpp):
    alice = await loggedIn(xmpp, "alice")
    reply = await ask(alice, "localhost", LAST)
    assert reply.get("type") == "result"
    assert 0 <= int(reply.find(q(NS_LAST, "query")).get("seconds")) < 600
    await alice.close()


@asyncioTest
async def test_last_of_a_contact_is_its_logout_for_subscribers_and_forbidden_to_others(xmpp):
    await subscribe(xmpp, "bob@localhost", "alice@localhost")
    alice = await loggedIn(xmpp, "alice")
    # Bob never logged out: nothing to tell.
    reply = await ask(alice, "bob@localhost", LAST, "never")
    assert stanzaErrorCondition(reply) == ("cancel", "item-not-found")
    bob = await RawClient.connect(xmpp.port)
    await bob.login("bob", "secret-bob", "phone")
    bob.sendRaw("<presence/>")
    await bob.expect()
    reply = await ask(alice, "bob@localhost", LAST, "online")
    assert reply.find(q(NS_LAST, "query")).get("seconds") == "0"
    bob.sendRaw("<presence type='unavailable'/>")
    await bob.roundTrip()
    reply = await ask(alice, "bob@localhost", LAST, "gone")
    assert reply.get("type") == "result", ET.tostring(reply)
    assert 0 <= int(reply.find(q(NS_LAST, "query")).get("seconds")) < 60
    logoutAt, _ = await wait(xmpp.storage.lastActivity.get("bob@localhost"))
    assert abs(logoutAt - datetime.datetime.now().timestamp()) < 60
    # Carol has no subscription to Bob's presence.
    carol = await loggedIn(xmpp, "carol")
    reply = await ask(carol, "bob@localhost", LAST, "nosy")
    assert stanzaErrorCondition(reply) == ("auth", "forbidden")
    reply = await ask(carol, "nobody@localhost", LAST, "ghost")
    assert stanzaErrorCondition(reply) == ("cancel", "service-unavailable")
    for client in (alice, bob, carol):
        await client.close()


def capsVer(identities, features):
    s = "".join("%s/%s//%s<" % i for i in sorted(identities))
    s += "".join("%s<" % f for f in sorted(features))
    return base64.b64encode(hashlib.sha1(s.encode()).digest()).decode()


@asyncioTest
async def test_stream_features_carry_caps_that_hash_the_domain_disco_info(xmpp):
    alice = await RawClient.connect(xmpp.port)
    await alice.open()
    await alice.starttls()
    preAuth = alice.features.find(q(NS_CAPS, "c"))
    assert await alice.authenticate("alice", "secret-alice") is not None
    await alice.open()
    bound = alice.features.find(q(NS_CAPS, "c"))
    await alice.bind("r")
    for c in (preAuth, bound):
        assert c is not None and c.get("hash") == "sha-1"
    assert preAuth.attrib == bound.attrib
    reply = await ask(alice, "localhost",
                      "<query xmlns='http://jabber.org/protocol/disco#info'/>")
    query = reply.find(q(NS_DISCO_INFO, "query"))
    identities = [(i.get("category"), i.get("type"), i.get("name") or "")
                  for i in query.findall(q(NS_DISCO_INFO, "identity"))]
    features = [f.get("var") for f in query.findall(q(NS_DISCO_INFO, "feature"))]
    assert bound.get("ver") == capsVer(identities, features)
    # XEP-0115 §6.2: the node#ver query answers the same.
    reply = await ask(alice, "localhost",
                      "<query xmlns='http://jabber.org/protocol/disco#info' node='%s#%s'/>"
                      % (bound.get("node"), bound.get("ver")), "node")
    nodeQuery = reply.find(q(NS_DISCO_INFO, "query"))
    assert nodeQuery.get("node") == "%s#%s" % (bound.get("node"), bound.get("ver"))
    assert sorted(f.get("var") for f in nodeQuery.findall(q(NS_DISCO_INFO, "feature"))) == \
        sorted(features)
    await alice.close()
