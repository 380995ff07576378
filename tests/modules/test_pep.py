"""
PEP (XEP-0163) as conversations between real clients over TCP and TLS:
OMEMO's device list and bundles, avatars, bookmarks, auto-create,
publish-options, access models and the last item on presence, on both
storage backends.
"""

import xml.etree.ElementTree as ET

from tests.aio import asyncioTest
from tests.modules.pep_transcript import (
    AVATAR_DATA, AVATAR_METADATA, BOOKMARKS, BUNDLES, DEVICELIST, NICK, NS_PUBSUB,
    expectError, expectEvent, expectNoEvents, expectNothing, expectPublished, expectStanza,
    fetchItems, itemsOf, online, publish, publishOptions, requestItems)
from tests.modules.test_roster import expectPresence, subscribeBothWays
from tests.offline.transcript import leave
from tests.rawclient import q

ALICE = "alice@localhost"
NS_OMEMO = "eu.siacs.conversations.axolotl"
DEVICES = "<list xmlns='%s'><device id='1234'/></list>" % NS_OMEMO
BUNDLE = ("<bundle xmlns='%s'><signedPreKeyPublic signedPreKeyId='1'>BASE64</signedPreKeyPublic>"
          "<identityKey>KEY</identityKey><prekeys><preKeyPublic preKeyId='1'>PK</preKeyPublic>"
          "</prekeys></bundle>" % NS_OMEMO)


def devices(*ids):
    return "<list xmlns='%s'>%s</list>" % (NS_OMEMO, "".join("<device id='%s'/>" % i
                                                            for i in ids))


def xml(text):
    return ET.tostring(ET.fromstring(text), encoding="unicode")


@asyncioTest
async def test_omemo_device_list_and_bundle_between_two_accounts(serve, backend):
    xmpp = await serve(backend)
    alice = await online(xmpp, "alice", "phone", notify=[DEVICELIST])
    # bob runs the same software: the server knows its caps and asks nothing.
    bob = await online(xmpp, "bob", "laptop", notify=[DEVICELIST], answer=False)
    await subscribeBothWays(alice, bob)

    # alice publishes her device list, open as OMEMO asks: the node is created.
    iqId = publish(alice, DEVICELIST, DEVICES, "current", publishOptions(access_model="open"))
    assert await expectPublished(alice, iqId, DEVICELIST) == "current"
    # Her own resource and bob's, both with devicelist+notify, are told.
    assert itemsOf(await expectEvent(alice, ALICE, DEVICELIST)) == [("current", xml(DEVICES))]
    assert itemsOf(await expectEvent(bob, ALICE, DEVICELIST)) == [("current", xml(DEVICES))]

    # Her bundle: nobody wants bundles+notify, so nobody is told.
    node = BUNDLES + ":1234"
    iqId = publish(alice, node, BUNDLE, "current", publishOptions(access_model="open"))
    assert await expectPublished(alice, iqId, node) == "current"
    await expectNothing(alice, bob)

    # bob fetches it, the way an OMEMO client builds a session.
    [(itemId, bundle)] = await fetchItems(bob, ALICE, node, maxItems=1)
    assert (itemId, ET.tostring(bundle, encoding="unicode")) == ("current", xml(BUNDLE))

    # A new device: the list is replaced, and bob hears of it.
    iqId = publish(alice, DEVICELIST, devices(1234, 5678), "current",
                   publishOptions(access_model="open"))
    await expectPublished(alice, iqId, DEVICELIST)
    await expectEvent(alice, ALICE, DEVICELIST)
    assert itemsOf(await expectEvent(bob, ALICE, DEVICELIST)) == [
        ("current", xml(devices(1234, 5678)))]
    assert [i for i, _ in await fetchItems(bob, ALICE, DEVICELIST)] == ["current"]


@asyncioTest
async def test_non_contact_is_refused_per_access_model(serve, backend):
    xmpp = await serve(backend)
    alice = await online(xmpp, "alice", notify=[])
    carol = await online(xmpp, "carol", notify=[DEVICELIST, NICK])
    await expectPublished(alice, publish(alice, DEVICELIST, DEVICES, "current",
                                         publishOptions(access_model="open")), DEVICELIST)
    await expectPublished(alice, publish(alice, NICK, "<nick xmlns='%s'>Alice</nick>" % NICK,
                                         "current"), NICK)
    await expectPublished(alice, publish(
        alice, BOOKMARKS, "<conference xmlns='%s' name='Lobby'/>" % BOOKMARKS,
        "lobby@muc.localhost", publishOptions(access_model="whitelist")), BOOKMARKS)
    # carol is not a contact: no notification reaches her, whatever she wants.
    await expectNothing(carol)

    # open: anyone may fetch.
    assert [i for i, _ in await fetchItems(carol, ALICE, DEVICELIST)] == ["current"]
    # presence (the default): contacts only.
    await expectError(carol, requestItems(carol, ALICE, NICK), "forbidden", "auth",
                      "presence-subscription-required")
    # whitelist: not even shown to exist.
    await expectError(carol, requestItems(carol, ALICE, BOOKMARKS), "item-not-found")
    # Nor may she publish on alice's service or subscribe to the nick.
    await expectError(carol, publish(carol, NICK, "<nick xmlns='%s'>Mallory</nick>" % NICK,
                                     to=ALICE), "forbidden")
    carol.sendRaw("<iq type='set' id='sub1' to='%s'><pubsub xmlns='%s'><subscribe node='%s'"
                  " jid='%s'/></pubsub></iq>" % (ALICE, NS_PUBSUB, NICK, carol.jid))
    await expectError(carol, "sub1", "forbidden")
    # A node that does not exist, and an account that does not.
    await expectError(carol, requestItems(carol, ALICE, "urn:example:none"), "item-not-found")
    await expectError(carol, requestItems(carol, "nobody@localhost", NICK),
                      "service-unavailable")


@asyncioTest
async def test_avatar_metadata_notification_and_data_fetch(xmpp):
    alice = await online(xmpp, "alice", notify=[AVATAR_METADATA])
    bob = await online(xmpp, "bob", notify=[AVATAR_METADATA], answer=False)
    await subscribeBothWays(alice, bob)
    data = "<data xmlns='%s'>iVBORw0KGgo=</data>" % AVATAR_DATA
    sha1 = "111f4b3c50d7b0df729d299bc6f8e9ef9066971f"
    metadata = ("<metadata xmlns='%s'><info bytes='8' id='%s' height='64' width='64'"
                " type='image/png'/></metadata>" % (AVATAR_METADATA, sha1))

    # XEP-0084 §4.1: the data first, nobody is notified of it...
    await expectPublished(alice, publish(alice, AVATAR_DATA, data, sha1), AVATAR_DATA)
    await expectNothing(alice, bob)
    # ...then the metadata, which goes to everyone interested.
    await expectPublished(alice, publish(alice, AVATAR_METADATA, metadata, sha1), AVATAR_METADATA)
    assert itemsOf(await expectEvent(alice, ALICE, AVATAR_METADATA)) == [(sha1, xml(metadata))]
    assert itemsOf(await expectEvent(bob, ALICE, AVATAR_METADATA)) == [(sha1, xml(metadata))]
    # bob fetches the data by the id the metadata names.
    [(itemId, payload)] = await fetchItems(bob, ALICE, AVATAR_DATA, itemIds=[sha1])
    assert itemId == sha1 and payload.text == "iVBORw0KGgo="


@asyncioTest
async def test_bookmarks_with_whitelist_publish_options_reach_only_the_owner(serve, backend):
    xmpp = await serve(backend)
    alice = await online(xmpp, "alice", "phone", notify=[BOOKMARKS])
    bob = await online(xmpp, "bob", notify=[BOOKMARKS], answer=False)
    await subscribeBothWays(alice, bob)
    options = publishOptions(persist_items="true", max_items="max",
                             send_last_published_item="never", access_model="whitelist")
    rooms = ["lobby@muc.localhost", "dev@muc.localhost", "ops@muc.localhost"]
    for room in rooms:
        conference = ("<conference xmlns='%s' name='%s' autojoin='true'><nick>al</nick>"
                      "</conference>" % (BOOKMARKS, room.split("@")[0]))
        await expectPublished(alice, publish(alice, BOOKMARKS, conference, room, options),
                              BOOKMARKS)
        # Only her own resource hears of it: bob is a contact, not on the whitelist.
        assert [i for i, _ in itemsOf(await expectEvent(alice, ALICE, BOOKMARKS))] == [room]
    await expectNothing(bob)

    # max_items = max keeps every bookmark; only alice may read them.
    assert [i for i, _ in await fetchItems(alice, ALICE, BOOKMARKS)] == rooms
    await expectError(bob, requestItems(bob, ALICE, BOOKMARKS), "item-not-found")

    # Preconditions the node does not meet refuse the publish and change nothing.
    iqId = publish(alice, BOOKMARKS, "<conference xmlns='%s'/>" % BOOKMARKS, "x@muc.localhost",
                   publishOptions(access_model="presence"))
    await expectError(alice, iqId, "conflict", "cancel", "precondition-not-met")
    assert [i for i, _ in await fetchItems(alice, ALICE, BOOKMARKS)] == rooms

    # Her second client logging in gets no last item (send_last_published_item = never).
    laptop = await online(xmpp, "alice", "laptop", notify=[BOOKMARKS], answer=False)
    await expectNoEvents(laptop)


@asyncioTest
async def test_first_publish_auto_creates_a_presence_node_with_one_item(xmpp):
    alice = await online(xmpp, "alice", notify=[NICK])
    for n, name in enumerate(("Alice", "Alicia")):
        iqId = publish(alice, NICK, "<nick xmlns='%s'>%s</nick>" % (NICK, name))
        generated = await expectPublished(alice, iqId, NICK)
        assert generated  # the server names an item sent without an id
        await expectEvent(alice, ALICE, NICK)
    # The defaults (XEP-0163 §4.2): the last item only, for contacts.
    [(_, nick)] = await fetchItems(alice, ALICE, NICK)
    assert nick.text == "Alicia"
    alice.sendRaw("<iq type='get' id='cfg' to='%s'><pubsub xmlns='%s#owner'><configure node='%s'/>"
                  "</pubsub></iq>" % (ALICE, NS_PUBSUB, NICK))
    reply = await alice.expect()
    fields = {f.get("var"): f.findtext("{jabber:x:data}value")
              for f in reply.iter("{jabber:x:data}field")}
    assert fields["pubsub#access_model"] == "presence" and fields["pubsub#max_items"] == "1"


@asyncioTest
async def test_last_published_item_is_sent_when_a_contact_comes_online(serve, backend):
    xmpp = await serve(backend)
    alice = await online(xmpp, "alice", notify=[])
    bob = await online(xmpp, "bob", notify=[NICK, AVATAR_METADATA])
    await subscribeBothWays(alice, bob)
    await leave(xmpp, bob)
    await expectPresence(alice, "bob@localhost/pc", "unavailable")

    nick = "<nick xmlns='%s'>Alice</nick>" % NICK
    await expectPublished(alice, publish(alice, NICK, nick, "current"), NICK)
    await expectPublished(alice, publish(alice, DEVICELIST, DEVICES, "current"), DEVICELIST)

    # bob comes back: same software, so no caps query; the nick he wants arrives.
    # The device list he does not want does not: alice's nodes are gone through
    # in name order, and "eu.siacs…" would have come before "http://…".
    bob = await online(xmpp, "bob", notify=[NICK, AVATAR_METADATA], answer=False)
    message = await expectStanza(bob)
    items = message.find("{%s#event}event" % NS_PUBSUB).find("{%s#event}items" % NS_PUBSUB)
    assert (message.get("from"), items.get("node")) == (ALICE, NICK)
    assert itemsOf(items) == [("current", xml(nick))]
    await expectNoEvents(bob)


@asyncioTest
async def test_disco_on_the_bare_jid_advertises_pep_and_lists_visible_nodes(xmpp):
    alice = await online(xmpp, "alice", notify=[])
    carol = await online(xmpp, "carol", notify=[], answer=False)
    await expectPublished(alice, publish(alice, NICK, "<nick xmlns='%s'>A</nick>" % NICK), NICK)
    await expectPublished(alice, publish(alice, DEVICELIST, DEVICES, "current",
                                         publishOptions(access_model="open")), DEVICELIST)

    alice.sendRaw("<iq type='get' id='info' to='%s'><query xmlns='http://jabber.org/protocol/"
                  "disco#info'/></iq>" % ALICE)
    info = (await alice.expect()).find("{http://jabber.org/protocol/disco#info}query")
    identities = {(i.get("category"), i.get("type"))
                  for i in info.findall("{http://jabber.org/protocol/disco#info}identity")}
    features = {f.get("var")
                for f in info.findall("{http://jabber.org/protocol/disco#info}feature")}
    assert ("pubsub", "pep") in identities
    for feature in ("publish", "auto-create", "publish-options", "access-presence",
                    "access-open", "access-whitelist", "last-published"):
        assert "%s#%s" % (NS_PUBSUB, feature) in features

    async def nodesSeenBy(client):
        client.sendRaw("<iq type='get' id='items' to='%s'><query xmlns='http://jabber.org/"
                       "protocol/disco#items'/></iq>" % ALICE)
        reply = await client.expect()
        query = reply.find("{http://jabber.org/protocol/disco#items}query")
        return sorted((i.get("jid"), i.get("node")) for i in query)

    assert await nodesSeenBy(alice) == [(ALICE, DEVICELIST), (ALICE, NICK)]
    assert await nodesSeenBy(carol) == [(ALICE, DEVICELIST)]


@asyncioTest
async def test_retract_purge_and_delete_tell_the_interested_and_only_the_owner_may(xmpp):
    alice = await online(xmpp, "alice", notify=[NICK])
    bob = await online(xmpp, "bob", notify=[NICK], answer=False)
    await subscribeBothWays(alice, bob)
    options = publishOptions(max_items="10")
    for itemId in ("a", "b"):
        await expectPublished(alice, publish(alice, NICK, "<nick xmlns='%s'>%s</nick>"
                                             % (NICK, itemId), itemId, options), NICK)
        await expectEvent(alice, ALICE, NICK)
        await expectEvent(bob, ALICE, NICK)

    bob.sendRaw("<iq type='set' id='r0' to='%s'><pubsub xmlns='%s'><retract node='%s'>"
                "<item id='a'/></retract></pubsub></iq>" % (ALICE, NS_PUBSUB, NICK))
    await expectError(bob, "r0", "forbidden")

    alice.sendRaw("<iq type='set' id='r1'><pubsub xmlns='%s'><retract node='%s' notify='true'>"
                  "<item id='a'/></retract></pubsub></iq>" % (NS_PUBSUB, NICK))
    assert (await alice.expect()).get("type") == "result"
    for client in (alice, bob):
        retract = (await expectEvent(client, ALICE, NICK)).find(q(NS_PUBSUB + "#event", "retract"))
        assert retract.get("id") == "a"
    assert [i for i, _ in await fetchItems(bob, ALICE, NICK)] == ["b"]

    alice.sendRaw("<iq type='set' id='p1'><pubsub xmlns='%s#owner'><purge node='%s'/></pubsub>"
                  "</iq>" % (NS_PUBSUB, NICK))
    assert (await alice.expect()).get("type") == "result"
    for client in (alice, bob):
        message = await client.expect()
        assert message.find("{%s#event}event/{%s#event}purge" % (NS_PUBSUB, NS_PUBSUB)) is not None
    assert await fetchItems(bob, ALICE, NICK) == []

    alice.sendRaw("<iq type='set' id='d1'><pubsub xmlns='%s#owner'><delete node='%s'/></pubsub>"
                  "</iq>" % (NS_PUBSUB, NICK))
    assert (await alice.expect()).get("type") == "result"
    for client in (alice, bob):
        message = await client.expect()
        assert message.find("{%s#event}event/{%s#event}delete"
                            % (NS_PUBSUB, NS_PUBSUB)) is not None
    await expectError(bob, requestItems(bob, ALICE, NICK), "item-not-found")
