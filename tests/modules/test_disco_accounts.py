"""
disco#info on a bare JID (XEP-0030 on an account's behalf) answers only the
account itself and contacts with a presence subscription to it (RFC 6121);
anyone else gets service-unavailable, exactly as for an account that does
not exist, so disco does not tell which accounts exist.
"""

import xml.etree.ElementTree as ET

from tests.aio import asyncioTest, wait
from tests.c2s.hostile import hostileServer
from tests.offline.transcript import online
from tests.rawclient import NS_CLIENT, q, stanzaErrorCondition

NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"


async def discoInfo(client, target, id="d1"):
    client.sendRaw("<iq type='get' id='%s' to='%s'><query xmlns='%s'/></iq>"
                   % (id, target, NS_DISCO_INFO))
    while True:
        reply = await client.expect()
        if reply.tag == q(NS_CLIENT, "iq") and reply.get("id") == id:
            return reply


def identities(reply):
    query = reply.find(q(NS_DISCO_INFO, "query"))
    return [(i.get("category"), i.get("type")) for i in query.findall(q(NS_DISCO_INFO, "identity"))]


@asyncioTest
async def test_account_disco_answers_only_the_owner_and_subscribed_contacts(
        make_database, tmp_path):
    server = await hostileServer(make_database, tmp_path)
    for name in ("bob", "carol"):
        await wait(server.addUser(name, "secret-" + name))
    try:
        alice = await online(server, "alice")
        bob = await online(server, "bob")
        carol = await online(server, "carol")
        bob.sendRaw("<presence to='alice@localhost' type='subscribe'/>")
        while (await alice.expect()).get("type") != "subscribe":
            pass
        alice.sendRaw("<presence to='bob@localhost' type='subscribed'/>")
        while True:
            element = await bob.expect()
            if element.tag == q(NS_CLIENT, "presence") and element.get("type") == "subscribed":
                break
        # The account, and its PEP service (XEP-0163 §6.1).
        account = [("account", "registered"), ("pubsub", "pep")]
        assert sorted(identities(await discoInfo(alice, "alice@localhost"))) == account
        assert sorted(identities(await discoInfo(bob, "alice@localhost"))) == account
        # carol, no subscription: the same answer as for no account at all.
        stranger = await discoInfo(carol, "alice@localhost")
        missing = await discoInfo(carol, "nobody@localhost", id="d2")
        assert stanzaErrorCondition(stranger) == ("cancel", "service-unavailable")
        assert stanzaErrorCondition(missing) == ("cancel", "service-unavailable")
        assert ET.tostring(stranger[0]) == ET.tostring(missing[0])
    finally:
        await wait(server.stop())
