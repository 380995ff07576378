"""
What the host's disco#info lists, against Debian 12's stock Prosody 0.12
(its default modules_enabled: roster, saslauth, tls, disco, blocklist,
bookmarks, carbons, dialback, limits, pep, private, smacks, vcard4,
vcard_legacy, csi_simple, invites*, ping, register, time, uptime, version,
admin_adhoc; offline is always loaded), whose host answered disco#info with
the features below (seen on this machine). xmppd lists every one of them,
and each one it lists answers a request of its kind with a result.
"""

import xml.etree.ElementTree as ET

from tests.aio import asyncioTest
from tests.offline.transcript import online
from tests.rawclient import NS_CLIENT, q

NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
STOCK_PROSODY = {
    "http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items",
    "jabber:iq:roster", "jabber:iq:private", "urn:xmpp:carbons:rules:0", "urn:xmpp:carbons:2",
    "vcard-temp", "msgoffline", "urn:xmpp:ping", "jabber:iq:register",
    "http://jabber.org/protocol/commands", "jabber:iq:version", "urn:xmpp:blocking",
    "urn:xmpp:time", "jabber:iq:time", "jabber:iq:last",
}
# A request of each feature's kind that a logged-in user may send; the
# server must answer it with a result. Features that are protocols of
# their own, not requests (rules statements), map to None.
REQUESTS = {
    "http://jabber.org/protocol/disco#info": ("get", "<query xmlns='%s'/>" % NS_DISCO_INFO),
    "http://jabber.org/protocol/disco#items":
        ("get", "<query xmlns='http://jabber.org/protocol/disco#items'/>"),
    "jabber:iq:roster": ("get", "<query xmlns='jabber:iq:roster'/>"),
    "jabber:iq:private": ("get", "<query xmlns='jabber:iq:private'><storage"
                                 " xmlns='storage:bookmarks'/></query>"),
    "urn:xmpp:carbons:2": ("set", "<enable xmlns='urn:xmpp:carbons:2'/>"),
    "urn:xmpp:carbons:rules:0": None,
    "vcard-temp": ("get", "<vCard xmlns='vcard-temp'/>"),
    "msgoffline": ("get", "<msgoffline xmlns='msgoffline'/>"),
    "urn:xmpp:ping": ("get", "<ping xmlns='urn:xmpp:ping'/>"),
    "jabber:iq:register": ("get", "<query xmlns='jabber:iq:register'/>"),
    "http://jabber.org/protocol/commands":
        ("get", "<query xmlns='http://jabber.org/protocol/disco#items'"
                " node='http://jabber.org/protocol/commands'/>"),
    "jabber:iq:version": ("get", "<query xmlns='jabber:iq:version'/>"),
    "urn:xmpp:blocking": ("get", "<blocklist xmlns='urn:xmpp:blocking'/>"),
    "urn:xmpp:time": ("get", "<time xmlns='urn:xmpp:time'/>"),
    "jabber:iq:time": ("get", "<query xmlns='jabber:iq:time'/>"),
    "jabber:iq:last": ("get", "<query xmlns='jabber:iq:last'/>"),
}


async def ask(client, id, kind, payload, to=None):
    target = " to='%s'" % to if to else ""
    client.sendRaw("<iq type='%s' id='%s'%s>%s</iq>" % (kind, id, target, payload))
    while True:
        reply = await client.expect()
        if reply.tag == q(NS_CLIENT, "iq") and reply.get("id") == id:
            return reply


@asyncioTest
async def test_host_lists_every_feature_of_stock_prosody_and_each_answers(serve):
    xmpp = await serve("sqlite", modules={"register": {"enabled": True}})
    alice = await online(xmpp, "alice")
    info = await ask(alice, "d0", "get", "<query xmlns='%s'/>" % NS_DISCO_INFO, "localhost")
    listed = {f.get("var") for f in info.find(q(NS_DISCO_INFO, "query"))
              if f.tag == q(NS_DISCO_INFO, "feature")}
    assert STOCK_PROSODY - listed == set()
    for n, feature in enumerate(sorted(listed)):
        if feature not in REQUESTS:
            continue
        request = REQUESTS[feature]
        if request is None:
            continue
        kind, payload = request
        # Account data is asked of the account itself; server services of the host.
        to = None if feature in ("jabber:iq:roster", "jabber:iq:private", "vcard-temp",
                                 "msgoffline", "urn:xmpp:blocking", "urn:xmpp:carbons:2") \
            else "localhost"
        reply = await ask(alice, "r%d" % n, kind, payload, to)
        assert reply.get("type") == "result", (feature, ET.tostring(reply))
