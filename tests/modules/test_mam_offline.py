"""
MAM and offline storage together ([modules.mam] offline_in_archive, on by
default): a message to offline bob is stored once -- his archive row, which
the offline queue refers to -- and still behaves in every way as an offline
message: delivered once, with its delay and the archived stanza-id, within
the limits, until it expires, through XEP-0013, and not again to a device
that synced through MAM. Real TCP and TLS, SQLite and MariaDB.
"""

import pytest
from twisted.internet.defer import Deferred

from tests.aio import asyncioTest, wait
from tests.modules.mam_transcript import (
    MAM_ON,
    copiesFor,
    iq,
    query,
    stanzaIds,
    tableRows,
)
from tests.offline.transcript import (
    assertBounce,
    assertOfflineCopy,
    body,
    connect,
    expectMessages,
    expectSilence,
    online,
    send,
    sendPresence,
    settle,
    storedCount,
)
from tests.rawclient import NS_CLIENT, q

from xmppd.api import PRESENCE_CONTACTS, IOfflineService

BOB = "bob@localhost"
NO_PERMANENT_STORE = "<no-permanent-store xmlns='urn:xmpp:hints'/>"


@asyncioTest
async def test_a_message_to_offline_bob_is_stored_once_and_reaches_him_once(serve, backend):
    xmpp = await serve(backend, modules=MAM_ON)
    alice = await online(xmpp, "alice")
    send(alice, BOB, "a1", "while you were away")
    assert await settle(xmpp, "bob", alice) == [[]]
    # One copy: bob's archive row; the queue row refers to it.
    assert await copiesFor(xmpp, BOB) == {
        "archive": 1, "references": 1, "copies": 0, "offline_messages": 0}
    [(archiveId, archivedId, archivedXml)] = await tableRows(
        xmpp, "SELECT id, stanza_id, xml FROM mam_messages WHERE owner = ?", BOB)
    [(referred, size)] = await tableRows(
        xmpp, "SELECT archive_id, size FROM mam_offline WHERE recipient = ?", BOB)
    assert referred == archiveId and "while you were away" in archivedXml
    phone = await online(xmpp, "bob", "phone")
    [delivered] = await expectMessages(phone, 1)
    assertOfflineCopy(delivered, "alice@localhost/r1", "a1", "while you were away")
    assert stanzaIds(delivered) == [(BOB, archivedId)]
    await expectSilence(phone)
    assert await storedCount(xmpp, "bob") == 0
    # Delivered: the queue row is gone, the archived message stays.
    assert await copiesFor(xmpp, BOB) == {
        "archive": 1, "references": 0, "copies": 0, "offline_messages": 0}
    laptop = await online(xmpp, "bob", "laptop")
    page = await query(laptop)
    assert page.ids == [archivedId] and page.bodies == ["while you were away"]
    assert size > len(archivedXml.encode("utf-8"))


@asyncioTest
async def test_on_the_memory_backend_the_archive_queue_stores_once_too(serve):
    # The offline module's queue is in Python there; mam's, with the
    # archive, on SQLite in memory.
    xmpp = await serve("memory", modules=MAM_ON)
    assert type(xmpp.offlineQueue()).__name__ == "ArchiveQueue"
    alice = await online(xmpp, "alice")
    send(alice, BOB, "a1", "in memory")
    send(alice, BOB, "a2", "off the record", payload=NO_PERMANENT_STORE)
    assert await settle(xmpp, "bob", alice) == [[]]
    assert await copiesFor(xmpp, BOB) == {
        "archive": 1, "references": 1, "copies": 1, "offline_messages": 0}
    phone = await online(xmpp, "bob", "phone")
    delivered = await expectMessages(phone, 2)
    assert [body(m) for m in delivered] == ["in memory", "off the record"]
    assert await storedCount(xmpp, "bob") == 0


@asyncioTest
async def test_no_permanent_store_waits_in_full_in_the_queue_in_its_place(serve, backend):
    xmpp = await serve(backend, modules=MAM_ON)
    alice = await online(xmpp, "alice")
    send(alice, BOB, "a1", "first, archived")
    send(alice, BOB, "a2", "second, off the record", payload=NO_PERMANENT_STORE)
    send(alice, BOB, "a3", "third, archived")
    assert await settle(xmpp, "bob", alice) == [[]]
    assert await copiesFor(xmpp, BOB) == {
        "archive": 2, "references": 2, "copies": 1, "offline_messages": 0}
    assert await tableRows(
        xmpp, "SELECT archive_id IS NULL, xml IS NULL FROM mam_offline ORDER BY id") == [
        (0, 1), (1, 0), (0, 1)]
    phone = await online(xmpp, "bob", "phone")
    delivered = await expectMessages(phone, 3)
    assert [body(m) for m in delivered] == [
        "first, archived", "second, off the record", "third, archived"]
    for message in delivered:
        assertOfflineCopy(message, "alice@localhost/r1", message.get("id"), body(message))
    assert stanzaIds(delivered[1]) == []
    assert (await query(phone)).bodies == ["first, archived", "third, archived"]


@asyncioTest
async def test_the_pair_limit_counts_what_waits_and_a_bounced_message_is_not_archived(
        serve, backend):
    xmpp = await serve(backend, offline={"pair_limit": 2}, modules=MAM_ON)
    alice = await online(xmpp, "alice")
    for n in range(3):
        send(alice, BOB, "a%d" % n, "message %d" % n)
    [early] = await settle(xmpp, "bob", alice)
    [bounce] = early + await expectMessages(alice, 1 - len(early))
    assertBounce(bounce, "a2", "service-unavailable", text="Offline messages queue is full")
    assert await copiesFor(xmpp, BOB) == {
        "archive": 2, "references": 2, "copies": 0, "offline_messages": 0}
    # Delivered, the two no longer count; the archive does not.
    phone = await online(xmpp, "bob", "phone")
    await expectMessages(phone, 2)
    await expectSilence(phone)
    await phone.close()
    send(alice, BOB, "a3", "room again")
    assert await settle(xmpp, "bob", alice) == [[]]
    assert await storedCount(xmpp, "bob") == 1


@asyncioTest
async def test_expiry_removes_the_waiting_reference_not_the_archived_message(serve, backend):
    xmpp = await serve(backend, modules=MAM_ON)
    host = xmpp.host()
    alice = await online(xmpp, "alice")
    send(alice, BOB, "short", "gone in a minute",
         payload="<x xmlns='jabber:x:expire' seconds='60'/>")
    send(alice, BOB, "long", "stays")
    assert await settle(xmpp, "bob", alice) == [[]]
    expired = []
    host.events.hook("offline/expired", lambda *args: expired.append(args))
    offline = host.service(IOfflineService)
    assert await wait(offline.sweeper.sweep(offline.now() + 61 * 10**6)) == 1
    # AMP hears of it with the copy as it would have been delivered.
    [(recipient, sender, xml)] = expired
    assert (recipient, sender) == (BOB, "alice@localhost") and "gone in a minute" in xml
    assert "Offline Storage" in xml and "urn:xmpp:sid:0" in xml
    phone = await online(xmpp, "bob", "phone")
    [message] = await expectMessages(phone, 1)
    assert message.get("id") == "long"
    await expectSilence(phone)
    assert (await query(phone)).bodies == ["gone in a minute", "stays"]


@asyncioTest
async def test_a_message_archived_after_the_mam_sync_still_comes_offline(serve, backend):
    xmpp = await serve(backend, modules=MAM_ON)
    alice = await online(xmpp, "alice")
    send(alice, BOB, "a1", "synced")
    assert await settle(xmpp, "bob", alice) == [[]]
    phone = await connect(xmpp, "bob", "phone")
    page = await query(phone)
    assert page.bodies == ["synced"]
    # Between the sync and the presence: not in the page the client read.
    send(alice, BOB, "a2", "after the sync")
    assert await settle(xmpp, "bob", alice) == [[]]
    await sendPresence(phone)
    [delivered] = await expectMessages(phone, 1)
    assert body(delivered) == "after the sync"
    assert stanzaIds(delivered)[0][0] == BOB
    await expectSilence(phone)
    assert await storedCount(xmpp, "bob") == 0
    assert (await query(phone)).bodies == ["synced", "after the sync"]


async def syncThenPresence(xmpp, phone):
    """
    The MAM query and the initial presence in one write, the presence
    before the query's answer came; then everything until the delivery
    that presence started is over. The archive's results and the offline
    messages, apart.
    """
    from tests.offline.transcript import readUntilDelivered
    phone.sendRaw("<iq type='set' id='sync'><query xmlns='urn:xmpp:mam:2' queryid='s'/></iq>"
                  "<presence/>")
    received = []
    while not any(e.tag == q(NS_CLIENT, "iq") and e.get("id") == "sync" for e in received):
        received.append(await phone.expect())
    received += await readUntilDelivered(xmpp, phone)
    messages = [e for e in received if e.tag == q(NS_CLIENT, "message")]
    results = [m for m in messages if m.find("{urn:xmpp:mam:2}result") is not None]
    offline = [m for m in messages if m.find("{urn:xmpp:mam:2}result") is None]
    return results, offline


@asyncioTest
async def test_a_client_that_sends_presence_right_behind_its_mam_query_is_not_flooded(
        serve, backend):
    xmpp = await serve(backend, modules=MAM_ON)
    await twoWaiting(xmpp)
    phone = await connect(xmpp, "bob", "phone")
    results, offline = await syncThenPresence(xmpp, phone)
    assert len(results) == 1 and [body(m) for m in offline] == ["off the record"]
    assert await storedCount(xmpp, "bob") == 0


@asyncioTest
async def test_the_sync_is_read_to_its_end_when_the_presence_waits_on_the_roster(
        serve, backend):
    """
    The query's answer, and pongs after it, can reach the client while its
    initial presence still waits for the roster read that comes before the
    offline delivery starts (seen on MariaDB under load). Here that read is
    held until the client's third round trip, past where reading until the
    message lane was idle stopped, so the off-the-record message came after
    the test had looked.
    """
    xmpp = await serve(backend, modules=MAM_ON)
    host = xmpp.host()
    await twoWaiting(xmpp)
    held, asked = Deferred(), []

    def holdBobsInitialRosterRead(owner, initial):
        if owner != BOB or not initial:
            return None
        asked.append(owner)
        host.events.unhook(PRESENCE_CONTACTS, holdBobsInitialRosterRead)
        held.addCallback(lambda _: host.events.fire(PRESENCE_CONTACTS, owner, initial))
        return held

    host.events.hook(PRESENCE_CONTACTS, holdBobsInitialRosterRead, 1000)
    phone = await connect(xmpp, "bob", "phone")
    roundTrip, trips = phone.roundTrip, []

    async def roundTripReleasingTheThird(*args, **kwargs):
        trips.append(None)
        if len(trips) == 3:
            held.callback(None)
        return await roundTrip(*args, **kwargs)

    phone.roundTrip = roundTripReleasingTheThird
    results, offline = await syncThenPresence(xmpp, phone)
    assert asked == [BOB]
    assert len(results) == 1 and [body(m) for m in offline] == ["off the record"]
    assert held.called
    assert await storedCount(xmpp, "bob") == 0


@asyncioTest
async def test_retention_gives_a_waiting_message_its_copy_before_the_archive_forgets(
        serve, backend):
    xmpp = await serve(backend, modules={"mam": {"enabled": True, "max_age": "1d"}})
    alice = await online(xmpp, "alice")
    send(alice, BOB, "a1", "older than the archive keeps")
    assert await settle(xmpp, "bob", alice) == [[]]
    [(archivedId,)] = await tableRows(
        xmpp, "SELECT stanza_id FROM mam_messages WHERE owner = ?", BOB)
    before = await wait(xmpp.offlineQueue().listMessages(BOB))
    handler = [h for h in xmpp.host() if type(h).__name__ == "MamHandler"][0]
    now = int(handler.archiver.clock.seconds() * 1_000_000)
    # bob's copy and alice's sent one.
    assert await wait(handler.sweep(now=now + 86401 * 10**6)) == 2
    assert await copiesFor(xmpp, BOB) == {
        "archive": 0, "references": 0, "copies": 1, "offline_messages": 0}
    assert await wait(xmpp.offlineQueue().listMessages(BOB)) == before
    phone = await online(xmpp, "bob", "phone")
    [delivered] = await expectMessages(phone, 1)
    assertOfflineCopy(delivered, "alice@localhost/r1", "a1", "older than the archive keeps")
    assert stanzaIds(delivered) == [(BOB, archivedId)]
    assert (await query(phone)).ids == []


@asyncioTest
async def test_deleting_bob_deletes_his_queue_and_his_archive(serve, backend):
    xmpp = await serve(backend, modules=MAM_ON)
    alice = await online(xmpp, "alice")
    send(alice, BOB, "a1", "for the record")
    send(alice, BOB, "a2", "off the record", payload=NO_PERMANENT_STORE)
    assert await settle(xmpp, "bob", alice) == [[]]
    await wait(xmpp.server.accounts.delete(BOB))
    assert await copiesFor(xmpp, BOB) == {
        "archive": 0, "references": 0, "copies": 0, "offline_messages": 0}
    # alice's own archive is hers.
    assert (await query(alice)).bodies == ["for the record"]


@pytest.mark.parametrize("inArchive", [True, False], ids=["in-archive", "own-queue"])
@asyncioTest
async def test_the_offline_in_archive_option_picks_the_queue(serve, inArchive):
    xmpp = await serve("sqlite", modules={"mam": {"enabled": True,
                                                  "offline_in_archive": inArchive}})
    alice = await online(xmpp, "alice")
    send(alice, BOB, "a1", "hello")
    assert await settle(xmpp, "bob", alice) == [[]]
    if inArchive:
        expected = {"archive": 1, "references": 1, "copies": 0, "offline_messages": 0}
    else:
        # Side by side: the archive row and the offline module's copy.
        expected = {"archive": 1, "references": 0, "copies": 0, "offline_messages": 1}
    assert await copiesFor(xmpp, BOB) == expected
    phone = await online(xmpp, "bob", "phone")
    [delivered] = await expectMessages(phone, 1)
    assert body(delivered) == "hello"
    assert await storedCount(xmpp, "bob") == 0


@asyncioTest
async def test_flexible_offline_reads_and_purges_the_archive_queue_not_the_archive(
        serve, backend):
    from tests.modules.test_flexible_offline import NS_OFFLINE, collect, headers
    xmpp = await serve(backend, modules=MAM_ON)
    alice = await online(xmpp, "alice")
    send(alice, BOB, "a1", "one")
    send(alice, BOB, "a2", "two", payload=NO_PERMANENT_STORE)
    send(alice, BOB, "a3", "three")
    assert await settle(xmpp, "bob", alice) == [[]]
    bob = await connect(xmpp, "bob", "orchard")
    info = await iq(bob, "<query xmlns='http://jabber.org/protocol/disco#info' node='%s'/>"
                    % NS_OFFLINE)
    assert [v.text for v in info.iter("{jabber:x:data}value")][-1] == "3"
    nodes = [node for node, _name, _jid in await headers(bob)]
    assert len(nodes) == 3
    bob.sendRaw("<iq type='get' id='view'><offline xmlns='%s'><item action='view' node='%s'/>"
                "</offline></iq>" % (NS_OFFLINE, nodes[0]))
    [viewed], answer = await collect(bob, "view")
    assert answer.get("type") == "result" and body(viewed) == "one"
    assert stanzaIds(viewed)[0][0] == BOB
    bob.sendRaw("<iq type='set' id='remove'><offline xmlns='%s'><item action='remove' "
                "node='%s'/></offline></iq>" % (NS_OFFLINE, nodes[0]))
    assert (await collect(bob, "remove"))[1].get("type") == "result"
    bob.sendRaw("<iq type='get' id='fetch'><offline xmlns='%s'><fetch/></offline></iq>"
                % NS_OFFLINE)
    fetched, answer = await collect(bob, "fetch")
    assert [body(m) for m in fetched] == ["two", "three"]
    bob.sendRaw("<iq type='set' id='purge'><offline xmlns='%s'><purge/></offline></iq>"
                % NS_OFFLINE)
    assert (await collect(bob, "purge"))[1].get("type") == "result"
    # Having asked, no flood at presence; the queue is empty, the archive whole.
    await sendPresence(bob)
    await expectSilence(bob)
    assert await copiesFor(xmpp, BOB) == {
        "archive": 2, "references": 0, "copies": 0, "offline_messages": 0}
    assert (await query(bob)).bodies == ["one", "three"]
    assert [e.tag for e in await bob.roundTrip()] in ([], [q(NS_CLIENT, "presence")])


async def startOn(database, directory, modules):
    """A server on ``database`` (kept across servers) with users alice and bob."""
    from tests.harness import startServer
    xmpp = await wait(startServer(database, directory, {"modules": modules}))
    for name in ("alice", "bob"):
        if not await wait(xmpp.storage.users.exists("%s@localhost" % name)):
            await wait(xmpp.addUser(name, "secret-" + name))
    # The start-up's handover of the queues not in use is over.
    await wait(xmpp.host().service(IOfflineService).queueReady())
    return xmpp


async def twoWaiting(xmpp):
    alice = await online(xmpp, "alice")
    send(alice, BOB, "a1", "archived")
    send(alice, BOB, "a2", "off the record", payload=NO_PERMANENT_STORE)
    assert await settle(xmpp, "bob", alice) == [[]]


@pytest.mark.parametrize("before, after, moved", [
    # Turning offline_in_archive on: the double copy becomes a reference.
    ({"mam": {"enabled": True, "offline_in_archive": False}}, MAM_ON,
     {"archive": 1, "references": 1, "copies": 1, "offline_messages": 0}),
    # Turning mam off: its queue hands every message back, in full.
    (MAM_ON, {},
     {"archive": 1, "references": 0, "copies": 0, "offline_messages": 2}),
], ids=["offline-in-archive-turned-on", "mam-turned-off"])
@asyncioTest
async def test_waiting_messages_move_to_the_queue_in_use_at_the_next_start(
        make_database, tmp_path, backend, before, after, moved):
    database = await wait(make_database(backend))
    first = await startOn(database, tmp_path / "first", before)
    await twoWaiting(first)
    [(archivedId,)] = await tableRows(
        first, "SELECT stanza_id FROM mam_messages WHERE owner = ?", BOB)
    await wait(first.stop())
    second = await startOn(database, tmp_path / "second", after)
    try:
        assert await copiesFor(second, BOB) == moved
        phone = await online(second, "bob", "phone")
        delivered = await expectMessages(phone, 2)
        assert [body(m) for m in delivered] == ["archived", "off the record"]
        for message in delivered:
            assertOfflineCopy(message, "alice@localhost/r1", message.get("id"), body(message))
        assert [stanzaIds(m) for m in delivered] == [[(BOB, archivedId)], []]
        await expectSilence(phone)
        assert await storedCount(second, "bob") == 0
    finally:
        await wait(second.stop())


@asyncioTest
async def test_messages_stored_before_mam_was_on_wait_in_its_queue_in_full(
        make_database, tmp_path, backend):
    database = await wait(make_database(backend))
    first = await startOn(database, tmp_path / "first", {})
    alice = await online(first, "alice")
    send(alice, BOB, "a1", "stored before the archive")
    assert await settle(first, "bob", alice) == [[]]
    await wait(first.stop())
    second = await startOn(database, tmp_path / "second", MAM_ON)
    try:
        assert await copiesFor(second, BOB) == {
            "archive": 0, "references": 0, "copies": 1, "offline_messages": 0}
        alice = await online(second, "alice")
        send(alice, BOB, "a2", "stored after")
        assert await settle(second, "bob", alice) == [[]]
        phone = await online(second, "bob", "phone")
        delivered = await expectMessages(phone, 2)
        assert [body(m) for m in delivered] == ["stored before the archive", "stored after"]
        assert stanzaIds(delivered[0]) == [] and stanzaIds(delivered[1])[0][0] == BOB
    finally:
        await wait(second.stop())


@asyncioTest
async def test_with_the_offline_stub_a_message_to_offline_bob_is_only_archived(serve):
    xmpp = await serve("sqlite", offline={"enabled": False},
                       modules={"mam": {"enabled": True}, "offline_stub": {"enabled": True}})
    alice = await online(xmpp, "alice")
    send(alice, BOB, "a1", "for the archive only")
    assert await settle(xmpp, "bob", alice) == [[]]
    await expectSilence(alice)
    phone = await online(xmpp, "bob", "phone")
    await expectSilence(phone)
    assert (await query(phone)).bodies == ["for the archive only"]
