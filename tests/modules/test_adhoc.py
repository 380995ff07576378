"""
Ad-hoc commands (XEP-0050): the admin alice lists the server's commands and
runs the user counts; bob, no admin, sees no command and may run none.
"""

import xml.etree.ElementTree as ET

import pytest

from tests.aio import asyncioTest
from tests.offline.transcript import connect, online
from tests.rawclient import NS_CLIENT, q, stanzaErrorCondition

NS_COMMANDS = "http://jabber.org/protocol/commands"
NS_ITEMS = "http://jabber.org/protocol/disco#items"
ONLINE = "http://jabber.org/protocol/admin#get-online-users-num"
REGISTERED = "http://jabber.org/protocol/admin#get-registered-users-num"


async def ask(client, id, payload, type="get"):
    client.sendRaw("<iq type='%s' id='%s' to='localhost'>%s</iq>" % (type, id, payload))
    while True:
        reply = await client.expect()
        if reply.tag == q(NS_CLIENT, "iq") and reply.get("id") == id:
            return reply


def fields(reply):
    form = reply.find(q(NS_COMMANDS, "command")).find("{jabber:x:data}x")
    return {f.get("var"): f.findtext("{jabber:x:data}value") for f in form}


@pytest.mark.parametrize("backend", ["sqlite", "mysql"])
@asyncioTest
async def test_admin_lists_and_runs_the_user_counts(serve, backend):
    xmpp = await serve(backend, server={"admins": ["alice@localhost"]})
    alice = await online(xmpp, "alice")
    await connect(xmpp, "bob")
    items = await ask(alice, "i1", "<query xmlns='%s' node='%s'/>" % (NS_ITEMS, NS_COMMANDS))
    nodes = sorted(i.get("node") for i in items.find(q(NS_ITEMS, "query")))
    assert nodes == [ONLINE, REGISTERED], ET.tostring(items)
    registered = await ask(alice, "r1", "<command xmlns='%s' node='%s' action='execute'/>"
                           % (NS_COMMANDS, REGISTERED), "set")
    assert registered.find(q(NS_COMMANDS, "command")).get("status") == "completed"
    assert fields(registered)["registeredusersnum"] == "5"
    online_ = await ask(alice, "o1", "<command xmlns='%s' node='%s'/>" % (NS_COMMANDS, ONLINE), "set")
    assert fields(online_)["onlineusersnum"] == "2"


@asyncioTest
async def test_non_admin_sees_no_commands_and_is_forbidden_to_run_one(serve):
    xmpp = await serve("sqlite")
    bob = await online(xmpp, "bob")
    items = await ask(bob, "i1", "<query xmlns='%s' node='%s'/>" % (NS_ITEMS, NS_COMMANDS))
    assert list(items.find(q(NS_ITEMS, "query"))) == []
    refused = await ask(bob, "r1", "<command xmlns='%s' node='%s'/>" % (NS_COMMANDS, ONLINE), "set")
    assert stanzaErrorCondition(refused) == ("auth", "forbidden")
