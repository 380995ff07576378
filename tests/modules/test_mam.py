"""
Message archives (XEP-0313) transcripts: bob has a phone and a laptop; what
reaches one, live or from offline storage, the other finds in the archive,
under the same XEP-0359 stanza-id.
"""

import xml.etree.ElementTree as ET

from tests.aio import asyncioTest, wait
from tests.modules.mam_transcript import (
    MAM_ON,
    NS_MAM,
    NS_SID,
    iq,
    query,
    rsm,
    stanzaIds,
)
from tests.offline.transcript import (
    body,
    connect,
    expectMessages,
    online,
    send,
    sendPresence,
    settle,
    storedCount,
)
from tests.rawclient import NS_CLIENT, q, stanzaErrorCondition

BOB = "bob@localhost"


@asyncioTest
async def test_offline_message_reaches_the_first_device_once_and_the_second_in_the_archive(
        serve, backend):
    xmpp = await serve(backend, modules=MAM_ON)
    alice = await online(xmpp, "alice")
    send(alice, BOB, "a1", "while you were away")
    assert await settle(xmpp, "bob", alice) == [[]]
    phone = await online(xmpp, "bob", "phone")
    [delivered] = await expectMessages(phone, 1)
    assert body(delivered) == "while you were away"
    [(by, offlineId)] = stanzaIds(delivered)
    assert by == BOB
    assert await phone.roundTrip() == []
    assert await storedCount(xmpp, "bob") == 0
    laptop = await online(xmpp, "bob", "laptop")
    assert [e.tag for e in await laptop.roundTrip()] in ([], [q(NS_CLIENT, "presence")])
    page = await query(laptop)
    assert page.bodies == ["while you were away"]
    assert page.ids == [offlineId]
    assert stanzaIds(page.messages[0]) == [(BOB, offlineId)]
    assert page.messages[0].get("from") == "alice@localhost/r1"
    assert page.complete
    # alice's own archive holds what she sent, under her own id.
    mine = await query(alice)
    assert mine.bodies == ["while you were away"]
    assert mine.ids != [offlineId]


@asyncioTest
async def test_live_message_has_the_archived_id_and_the_senders_id_stays_home(serve, backend):
    xmpp = await serve(backend, modules=MAM_ON)
    alice = await online(xmpp, "alice")
    phone = await online(xmpp, "bob", "phone")
    send(alice, BOB, "a1", "hi", payload="<origin-id xmlns='%s' id='o-1'/>" % NS_SID)
    [live] = await expectMessages(phone, 1)
    [(by, liveId)] = stanzaIds(live)
    assert by == BOB
    assert live.find(q(NS_SID, "origin-id")).get("id") == "o-1"
    assert (await query(phone)).ids == [liveId]
    sent = (await query(alice)).messages
    assert [(by, i) for by, i in stanzaIds(sent[0])][0][0] == "alice@localhost"


@asyncioTest
async def test_forged_stanza_ids_for_this_server_are_stripped(serve):
    xmpp = await serve("sqlite", modules=MAM_ON)
    alice = await online(xmpp, "alice")
    phone = await online(xmpp, "bob", "phone")
    send(alice, BOB, "a1", "trust me", payload=(
        "<stanza-id xmlns='%s' by='bob@localhost' id='forged-1'/>"
        "<stanza-id xmlns='%s' by='localhost' id='forged-2'/>"
        "<stanza-id xmlns='%s' by='elsewhere.example' id='theirs'/>") % ((NS_SID,) * 3))
    [live] = await expectMessages(phone, 1)
    ids = stanzaIds(live)
    assert ("elsewhere.example", "theirs") in ids
    ours = [i for by, i in ids if by in ("bob@localhost", "localhost")]
    assert len(ours) == 1 and ours[0] not in ("forged-1", "forged-2")
    assert (await query(phone)).ids == ours


@asyncioTest
async def test_no_permanent_store_keeps_a_message_out_of_the_archive_not_out_of_offline(
        serve, backend):
    xmpp = await serve(backend, modules=MAM_ON)
    alice = await online(xmpp, "alice")
    send(alice, BOB, "a1", "not for the record",
         payload="<no-permanent-store xmlns='urn:xmpp:hints'/>")
    send(alice, BOB, "a2", "for the record")
    assert await settle(xmpp, "bob", alice) == [[]]
    assert await storedCount(xmpp, "bob") == 2
    phone = await online(xmpp, "bob", "phone")
    delivered = await expectMessages(phone, 2)
    assert [body(m) for m in delivered] == ["not for the record", "for the record"]
    assert stanzaIds(delivered[0]) == []
    page = await query(phone)
    assert page.bodies == ["for the record"]
    assert (await query(alice)).bodies == ["for the record"]


@asyncioTest
async def test_a_device_that_syncs_with_mam_before_presence_is_not_flooded(serve, backend):
    xmpp = await serve(backend, modules=MAM_ON)
    alice = await online(xmpp, "alice")
    send(alice, BOB, "a1", "archived")
    send(alice, BOB, "a2", "receipt only", type="chat",
         payload="<no-permanent-store xmlns='urn:xmpp:hints'/>")
    assert await settle(xmpp, "bob", alice) == [[]]
    phone = await connect(xmpp, "bob", "phone")
    page = await query(phone)
    assert page.bodies == ["archived"]
    await sendPresence(phone)
    # Only what the archive does not hold comes as an offline message.
    [delivered] = await expectMessages(phone, 1)
    assert body(delivered) == "receipt only"
    assert await phone.roundTrip() == []
    assert await storedCount(xmpp, "bob") == 0
    laptop = await online(xmpp, "bob", "laptop")
    assert [e.tag for e in await laptop.roundTrip()] in ([], [q(NS_CLIENT, "presence")])


@asyncioTest
async def test_paging_1000_messages_forwards_and_backwards_returns_each_exactly_once(
        serve, backend):
    xmpp = await serve(backend, modules=MAM_ON)
    alice = await online(xmpp, "alice")
    phone = await online(xmpp, "bob", "phone")
    for n in range(1000):
        send(alice, BOB, "m%d" % n, "message %d" % n)
    await expectMessages(phone, 1000)
    expected = ["message %d" % n for n in range(1000)]

    forwards, after, pages = [], None, 0
    while True:
        page = await query(phone, paging=rsm(max=90, after=after))
        pages += 1
        forwards += page.bodies
        if page.complete:
            break
        after = page.rsm("last")
        assert after == page.ids[-1]
    assert forwards == expected and pages == 12

    backwards, before = [], ""
    while True:
        page = await query(phone, paging=rsm(max=90, before=before))
        assert page.bodies == sorted(page.bodies, key=lambda b: int(b.split()[1]))
        backwards = page.bodies + backwards
        if page.complete:
            break
        before = page.rsm("first")
    assert backwards == expected


@asyncioTest
async def test_filters_flip_page_ids_and_metadata(serve):
    xmpp = await serve("sqlite", modules=MAM_ON)
    alice = await online(xmpp, "alice")
    carol = await online(xmpp, "carol")
    phone = await online(xmpp, "bob", "phone")
    for n in range(3):
        send(alice, BOB, "a%d" % n, "alice %d" % n)
        send(carol, BOB, "c%d" % n, "carol %d" % n)
    await expectMessages(phone, 6)
    everything = await query(phone)
    assert len(everything.ids) == 6
    assert (await query(phone, {"with": "carol@localhost"})).bodies == [
        "carol 0", "carol 1", "carol 2"]
    assert (await query(phone, {"with": "alice@localhost/r1"})).bodies == [
        "alice 0", "alice 1", "alice 2"]
    assert (await query(phone, {"with": "alice@localhost/other"})).bodies == []
    middle = everything.ids[2:4]
    assert (await query(phone, {"after-id": everything.ids[1],
                                "before-id": everything.ids[4]})).ids == middle
    assert (await query(phone, {"ids": [everything.ids[5], everything.ids[0]]})).ids == [
        everything.ids[0], everything.ids[5]]
    flipped = await query(phone, paging=rsm(max=2, before=""), extra="<flip-page/>")
    # The newest two, newest first (alice and carol race each other to bob).
    assert flipped.bodies == everything.bodies[:-3:-1]
    assert not flipped.complete
    counted = await query(phone, paging=rsm(max=0))
    assert counted.results == [] and counted.rsm("count") == "6"
    metadata = await iq(phone, "<metadata xmlns='%s'/>" % NS_MAM)
    element = metadata.find(q(NS_MAM, "metadata"))
    assert element.find(q(NS_MAM, "start")).get("id") == everything.ids[0]
    assert element.find(q(NS_MAM, "end")).get("id") == everything.ids[-1]
    fields = await iq(phone, "<query xmlns='%s'/>" % NS_MAM)
    assert {f.get("var") for f in fields.iter("{jabber:x:data}field")} == {
        "FORM_TYPE", "with", "start", "end", "before-id", "after-id", "ids"}
    window = await query(phone, {"start": "2000-01-01T00:00:00Z", "end": "2999-01-01T00:00:00Z"})
    assert window.ids == everything.ids
    assert (await query(phone, {"end": "2000-01-01T00:00:00Z"})).ids == []


@asyncioTest
async def test_bad_queries_get_clear_errors(serve):
    xmpp = await serve("sqlite", modules=MAM_ON)
    phone = await online(xmpp, "bob", "phone")
    unknown = await query(phone, paging=rsm(after="no-such-id"))
    assert stanzaErrorCondition(unknown.iq) == ("cancel", "item-not-found")
    badField = await query(phone, {"full-text-search": "hello"})
    assert stanzaErrorCondition(badField.iq) == ("modify", "bad-request")
    badTime = await query(phone, {"start": "yesterday"})
    assert stanzaErrorCondition(badTime.iq) == ("modify", "bad-request")
    others = await query(phone, to="alice@localhost")
    assert stanzaErrorCondition(others.iq) == ("auth", "forbidden")


@asyncioTest
async def test_never_preference_keeps_a_contact_out_of_the_archive(serve, backend):
    xmpp = await serve(backend, modules=MAM_ON)
    alice = await online(xmpp, "alice")
    carol = await online(xmpp, "carol")
    phone = await online(xmpp, "bob", "phone")
    reply = await iq(phone, "<prefs xmlns='%s' default='always'><always/><never>"
                     "<jid>carol@localhost</jid></never></prefs>" % NS_MAM, type="set")
    assert reply.get("type") == "result", ET.tostring(reply)
    send(carol, BOB, "c1", "off the record")
    send(alice, BOB, "a1", "on the record")
    delivered = await expectMessages(phone, 2)
    byBody = {body(m): m for m in delivered}
    assert stanzaIds(byBody["off the record"]) == []
    assert (await query(phone)).bodies == ["on the record"]
    prefs = (await iq(phone, "<prefs xmlns='%s'/>" % NS_MAM)).find(q(NS_MAM, "prefs"))
    assert prefs.get("default") == "always"
    assert [j.text for j in prefs.find(q(NS_MAM, "never"))] == ["carol@localhost"]
    # default='never': nothing more is archived, but 'always' still wins.
    await iq(phone, "<prefs xmlns='%s' default='never'><always><jid>alice@localhost</jid>"
             "</always></prefs>" % NS_MAM, type="set")
    send(carol, BOB, "c2", "still off")
    send(alice, BOB, "a2", "alice always")
    await expectMessages(phone, 2)
    assert (await query(phone)).bodies == ["on the record", "alice always"]


@asyncioTest
async def test_roster_preference_archives_only_roster_contacts(serve):
    xmpp = await serve("sqlite", modules=MAM_ON)
    alice = await online(xmpp, "alice")
    carol = await online(xmpp, "carol")
    phone = await online(xmpp, "bob", "phone")
    await iq(phone, "<prefs xmlns='%s' default='roster'/>" % NS_MAM, type="set")
    added = await iq(phone, "<query xmlns='jabber:iq:roster'><item jid='alice@localhost'/>"
                     "</query>", type="set")
    assert added.get("type") == "result", ET.tostring(added)
    send(carol, BOB, "c1", "stranger")
    send(alice, BOB, "a1", "friend")
    await expectMessages(phone, 2)
    assert (await query(phone)).bodies == ["friend"]


@asyncioTest
async def test_retention_deletes_what_is_older_than_max_age(serve, backend):
    xmpp = await serve(backend, modules={"mam": {"enabled": True, "max_age": "1d"}})
    alice = await online(xmpp, "alice")
    phone = await online(xmpp, "bob", "phone")
    send(alice, BOB, "a1", "soon forgotten")
    await expectMessages(phone, 1)
    assert len((await query(phone)).ids) == 1
    host = xmpp.host()
    # The sweep as it runs a day and a second from now.
    handler = [h for h in host if type(h).__name__ == "MamHandler"][0]
    now = int(handler.archiver.clock.seconds() * 1_000_000)
    assert await wait(handler.sweep(now=now + 60 * 10**6)) == 0
    assert await wait(handler.sweep(now=now + 86401 * 10**6)) == 2
    assert (await query(phone)).ids == []
    assert (await query(alice)).ids == []


@asyncioTest
async def test_carbons_carry_the_archive_id_and_add_no_archived_copy(serve):
    xmpp = await serve("sqlite", modules=MAM_ON)
    alice = await online(xmpp, "alice")
    phone = await online(xmpp, "bob", "phone", priority=10)
    laptop = await connect(xmpp, "bob", "laptop")
    enabled = await iq(laptop, "<enable xmlns='urn:xmpp:carbons:2'/>", type="set")
    assert enabled.get("type") == "result"
    await sendPresence(laptop, priority=0)
    send(alice, BOB, "a1", "to the phone")
    [live] = await expectMessages(phone, 1)
    [carbon] = await expectMessages(laptop, 1)
    inner = carbon.find("{urn:xmpp:carbons:2}received/{urn:xmpp:forward:0}forwarded/{%s}message"
                        % NS_CLIENT)
    assert stanzaIds(inner) == stanzaIds(live)
    send(phone, "alice@localhost", "b1", "from the phone")
    [atAlice] = await expectMessages(alice, 1)
    [sentCarbon] = await expectMessages(laptop, 1)
    sentInner = sentCarbon.find("{urn:xmpp:carbons:2}sent/{urn:xmpp:forward:0}forwarded/"
                                "{%s}message" % NS_CLIENT)
    [(by, sentId)] = stanzaIds(sentInner, BOB)
    assert stanzaIds(atAlice, BOB) == []
    page = await query(laptop)
    assert page.bodies == ["to the phone", "from the phone"]
    assert page.ids == [stanzaIds(live)[0][1], sentId]


@asyncioTest
async def test_without_the_module_nothing_is_stamped_or_answered(serve):
    xmpp = await serve("sqlite")
    alice = await online(xmpp, "alice")
    phone = await online(xmpp, "bob", "phone")
    send(alice, BOB, "a1", "plain")
    [live] = await expectMessages(phone, 1)
    assert stanzaIds(live) == []
    page = await query(phone)
    assert stanzaErrorCondition(page.iq)[1] in ("service-unavailable", "feature-not-implemented")


@asyncioTest
async def test_slixmpp_xep_0313_pages_through_the_archive_both_ways(serve, backend):
    import asyncio

    import slixmpp

    from tests.slixclient import connectLocally

    xmpp = await serve(backend, modules=MAM_ON)
    alice = await online(xmpp, "alice")
    phone = await online(xmpp, "bob", "phone")
    for n in range(25):
        send(alice, BOB, "m%d" % n, "message %d" % n)
    await expectMessages(phone, 25)

    class Laptop(slixmpp.ClientXMPP):
        def __init__(self):
            slixmpp.ClientXMPP.__init__(self, "bob@localhost/laptop", "secret-bob")
            self.register_plugin("xep_0059")
            self.register_plugin("xep_0313")
            self.online = asyncio.Event()
            self.add_event_handler("session_start", lambda _: self.online.set())

    laptop = await connectLocally(Laptop(), xmpp.port)
    try:
        mam = laptop.plugin["xep_0313"]
        forwards = [m["mam_result"]["forwarded"]["stanza"]["body"]
                    async for m in mam.iterate(rsm={"max": 10})]
        assert forwards == ["message %d" % n for n in range(25)]
        backwards = [m["mam_result"]["forwarded"]["stanza"]["body"]
                     async for m in mam.iterate(rsm={"max": 10}, reverse=True)]
        assert backwards == ["message %d" % n for n in reversed(range(25))]
        fromAlice = [m async for m in mam.iterate(with_jid=slixmpp.JID("alice@localhost"),
                                                  rsm={"max": 10})]
        assert len(fromAlice) == 25
        ids = {m["mam_result"]["id"] for m in fromAlice}
        assert len(ids) == 25
    finally:
        laptop.disconnect()
