"""
The archive's offline queue on both backends, where it differs from the
offline module's: a message the archive takes is written once, as an
archive row and a queue row that refers to it, and handed out with the very
bytes the offline module would have stored; the queue and the archive
forget independently, and a purge of the archive never leaves a reference
to nothing. (The queue contract itself: tests/storage/test_offline.py.)
"""

import pytest
import pytest_twisted
from twisted.internet import defer, task
from twisted.words.protocols.jabber.jid import JID
from wokkel.generic import parseXml

from xmppd.api import annotate
from xmppd.mam.archive import ARCHIVING, ArchiveWriter, OfflineArchiving
from xmppd.mam.queue import ArchiveQueue
from xmppd.mam.stanzaids import ArchiveClock, addStanzaId, stanzaIdBy
from xmppd.mam.store import ArchiveQuery, MamStore
from xmppd.offline.service import storedCopy
from xmppd.offline.store import OfflineStore
from xmppd.storage import QuotaExceeded

BOB = "bob@example.org"
ALICE = "alice@example.org/phone"
NOW = 1_700_000_000_000_000
HOUR = 3600 * 10**6


class Archiver:
    """What an OfflineArchiving asks of the archiver: its clock and writer."""

    def __init__(self):
        self.time = task.Clock()
        self.time.advance(NOW / 1e6)
        self.clock = ArchiveClock(self.time)
        self.writer = ArchiveWriter(None)


@pytest.fixture
def archiver():
    return Archiver()


@pytest.fixture
def queue(database):
    return ArchiveQueue(database)


@pytest.fixture
def mam(database):
    return MamStore(database)


def stanza(n, payload=""):
    return parseXml((
        "<message xmlns='jabber:client' from='%s' to='%s' type='chat' id='m%d'>"
        "<body>message %d \N{SNOWMAN}</body>%s</message>" % (ALICE, BOB, n, n, payload)
    ).encode("utf-8"))


def archivedStanza(archiver, n, stanzaId=None):
    """A message as routing hands it to offline storage with MAM on: id in, row noted."""
    message = stanza(n)
    stanzaId = stanzaId or "sid-%d" % n
    addStanzaId(message, BOB, stanzaId)
    annotate(message, ARCHIVING, OfflineArchiving(archiver, BOB, JID(ALICE), stanzaId))
    return message


async def storeArchived(queue, archiver, n, storedAt=NOW, **limits):
    message = archivedStanza(archiver, n)
    xml = storedCopy(message, "example.org", storedAt)
    rowId = await queue.store(BOB, "alice@example.org", xml, storedAt, stanza=message,
                              **limits)
    return rowId, xml, message


async def rows(database, table):
    columns = {"mam_offline": "id, archive_id, xml IS NULL, size",
               "mam_messages": "id, stanza_id, owner",
               "offline_messages": "id"}[table]
    return [tuple(row) for row in
            await database.runQuery("SELECT %s FROM %s ORDER BY id" % (columns, table))]


@pytest_twisted.ensureDeferred
async def test_an_archived_message_is_stored_once_and_handed_out_as_stored(
        queue, mam, database, archiver):
    rowId, xml, message = await storeArchived(queue, archiver, 1)
    [(archiveId, stanzaId, owner)] = await rows(database, "mam_messages")
    assert (stanzaId, owner) == ("sid-1", BOB)
    # The queue row refers to the archive row and holds no copy of its own.
    assert await rows(database, "mam_offline") == [
        (rowId, archiveId, 1, len(xml.encode("utf-8")))]
    assert await rows(database, "offline_messages") == []
    assert await queue.fetch(BOB, now=NOW) == [(rowId, "alice@example.org", xml)]
    assert await queue.listMessages(BOB) == [(rowId, "alice@example.org", NOW, None, xml)]
    page = await mam.query(ArchiveQuery(BOB))
    assert [(r[0], r[2]) for r in page.rows] == [("sid-1", message.toXml())]
    assert annotationWritten(message)


def annotationWritten(message):
    from xmppd.api import annotation
    return annotation(message, ARCHIVING).written


@pytest_twisted.ensureDeferred
async def test_the_delivered_copy_carries_the_delay_and_the_archived_stanza_id(
        queue, archiver):
    await storeArchived(queue, archiver, 1)
    [(_rowId, _sender, xml)] = await queue.fetch(BOB, now=NOW)
    delivered = parseXml(xml.encode("utf-8"))
    assert stanzaIdBy(delivered, BOB) == "sid-1"
    [delay] = list(delivered.elements("urn:xmpp:delay", "delay"))
    assert (delay["from"], delay["stamp"], str(delay)) == (
        "example.org", "2023-11-14T22:13:20.000000Z", "Offline Storage")


@pytest_twisted.ensureDeferred
async def test_a_message_over_quota_is_neither_queued_nor_archived(
        queue, mam, database, archiver):
    await storeArchived(queue, archiver, 1, pairLimit=1)
    with pytest.raises(QuotaExceeded) as refused:
        await storeArchived(queue, archiver, 2, pairLimit=1)
    assert refused.value.limit == "pair"
    assert await mam.count(BOB) == 1 and await queue.count(BOB) == 1


@pytest_twisted.ensureDeferred
async def test_the_byte_limit_counts_what_a_reference_hands_out(queue, archiver):
    _rowId, xml, _message = await storeArchived(queue, archiver, 1)
    size = len(xml.encode("utf-8"))
    await storeArchived(queue, archiver, 2, userBytesLimit=2 * size)
    with pytest.raises(QuotaExceeded) as refused:
        await storeArchived(queue, archiver, 3, userBytesLimit=2 * size + size - 1)
    assert refused.value.limit == "bytes"


@pytest_twisted.ensureDeferred
async def test_deleting_a_delivered_reference_keeps_the_archived_message(
        queue, mam, archiver):
    rowId, _xml, _message = await storeArchived(queue, archiver, 1)
    assert await queue.delete([rowId]) == 1
    assert await queue.fetch(BOB, now=NOW) == []
    assert await mam.count(BOB) == 1


@pytest_twisted.ensureDeferred
async def test_expiry_and_purges_of_the_queue_keep_the_archive(queue, mam, archiver):
    message = archivedStanza(archiver, 1)
    xml = storedCopy(message, "example.org", NOW)
    rowId = await queue.store(BOB, "alice@example.org", xml, NOW, expiresAt=NOW + 1,
                              stanza=message)
    assert await queue.purgeExpired(NOW + 1) == [(rowId, BOB, "alice@example.org", xml)]
    await storeArchived(queue, archiver, 2)
    assert await queue.purge(BOB) == 1
    await storeArchived(queue, archiver, 3, storedAt=NOW - HOUR)
    assert await queue.purgeOlderThan(NOW) == 1
    assert await mam.count(BOB) == 3


@pytest.mark.parametrize("purge", ["older-than", "owner"])
@pytest_twisted.ensureDeferred
async def test_an_archive_purge_gives_a_waiting_reference_its_copy_first(
        queue, mam, database, archiver, purge):
    waiting, xml, _message = await storeArchived(queue, archiver, 1)
    delivered, _xml, _message = await storeArchived(queue, archiver, 2)
    await queue.delete([delivered])
    if purge == "older-than":
        assert await mam.purgeOlderThan(2 ** 62) == 2
    else:
        assert await mam.purge(BOB) == 2
    assert await rows(database, "mam_messages") == []
    # The waiting message keeps its place, its bytes, and now its own copy.
    assert await rows(database, "mam_offline") == [
        (waiting, None, 0, len(xml.encode("utf-8")))]
    assert await queue.fetch(BOB, now=NOW) == [(waiting, "alice@example.org", xml)]


@pytest_twisted.ensureDeferred
async def test_a_purge_of_older_messages_leaves_newer_references_alone(
        queue, mam, database, archiver):
    old, _xml, _message = await storeArchived(queue, archiver, 1)
    archiver.time.advance(HOUR / 1e6)
    recent, _xml, _message = await storeArchived(queue, archiver, 2)
    assert await mam.purgeOlderThan(NOW + HOUR) == 1
    assert [(row[0], row[1] is None) for row in await rows(database, "mam_offline")] == [
        (old, True), (recent, False)]


@pytest_twisted.ensureDeferred
async def test_a_copy_that_is_not_the_archived_stanza_is_kept_whole(
        queue, mam, database, archiver):
    message = archivedStanza(archiver, 1)
    # Stored for another domain than the recipient's: the delay would differ.
    xml = storedCopy(message, "elsewhere.example", NOW)
    rowId = await queue.store(BOB, "alice@example.org", xml, NOW, stanza=message)
    [(archiveId, _sid, _owner)] = await rows(database, "mam_messages")
    assert await rows(database, "mam_offline") == [
        (rowId, archiveId, 0, len(xml.encode("utf-8")))]
    assert await queue.fetch(BOB, now=NOW) == [(rowId, "alice@example.org", xml)]
    await mam.purge(BOB)
    assert (await rows(database, "mam_offline"))[0][1] is None
    assert await queue.fetch(BOB, now=NOW) == [(rowId, "alice@example.org", xml)]


@pytest_twisted.ensureDeferred
async def test_a_message_without_archiving_keeps_its_copy(queue, mam, database):
    message = stanza(1, "<no-permanent-store xmlns='urn:xmpp:hints'/>")
    xml = storedCopy(message, "example.org", NOW)
    rowId = await queue.store(BOB, "alice@example.org", xml, NOW, stanza=message)
    assert await rows(database, "mam_offline") == [(rowId, None, 0, len(xml.encode("utf-8")))]
    assert await mam.count(BOB) == 0


@pytest_twisted.ensureDeferred
async def test_a_message_archived_when_first_routed_is_referred_to_when_stored_again(
        queue, mam, database):
    # A departed session's leftovers: archived live, routed again to storage.
    message = stanza(1)
    addStanzaId(message, BOB, "live-1")
    await mam.append([(BOB, "live-1", NOW, "alice@example.org", "phone", message.toXml())])
    xml = storedCopy(message, "example.org", NOW + 5)
    rowId = await queue.store(BOB, "alice@example.org", xml, NOW + 5, stanza=message)
    [(archiveId, _sid, _owner)] = await rows(database, "mam_messages")
    assert (await rows(database, "mam_offline"))[0][:3] == (rowId, archiveId, 1)
    assert await queue.fetch(BOB, now=NOW) == [(rowId, "alice@example.org", xml)]


@pytest_twisted.ensureDeferred
async def test_adopting_the_offline_modules_copies_turns_archived_ones_into_references(
        queue, mam, database):
    # Before offline_in_archive: the archive row and a copy in offline_messages.
    offline = OfflineStore(database)
    archived = stanza(1)
    addStanzaId(archived, BOB, "sid-1")
    await mam.append([(BOB, "sid-1", NOW, "alice@example.org", "phone", archived.toXml())])
    copies = [storedCopy(archived, "example.org", NOW), storedCopy(stanza(2), "example.org", NOW)]
    for xml in copies:
        await offline.store(BOB, "alice@example.org", xml, NOW)
    exported = await offline.export()
    assert await queue.adopt([row[1:] for row in exported]) == 2
    [(first, archiveId, noCopy, _), (second, none, copy, _)] = await rows(
        database, "mam_offline")
    assert (noCopy, none, copy) == (1, None, 0)
    assert archiveId == (await rows(database, "mam_messages"))[0][0]
    assert await queue.fetch(BOB, now=NOW) == [
        (first, "alice@example.org", copies[0]), (second, "alice@example.org", copies[1])]


@pytest_twisted.ensureDeferred
async def test_drop_archived_takes_only_what_a_query_up_to_then_could_read(
        queue, database, archiver):
    seen, _xml, _message = await storeArchived(queue, archiver, 1)
    upTo = archiver.clock.watermark()
    later, _xml, _message = await storeArchived(queue, archiver, 2)
    message = stanza(3, "<no-permanent-store xmlns='urn:xmpp:hints'/>")
    notArchived = await queue.store(BOB, "alice@example.org",
                                    storedCopy(message, "example.org", NOW), NOW)
    assert await queue.dropArchived(BOB, upTo) == 1
    assert [row[0] for row in await queue.fetch(BOB, now=NOW)] == [later, notArchived]
    assert seen not in [row[0] for row in await rows(database, "mam_offline")]


@pytest_twisted.ensureDeferred
async def test_deleting_the_account_deletes_its_queue_and_its_archive(database, archiver):
    from xmppd.accounts import AccountManager
    from xmppd.storage import openStores
    from xmppd.tap import availableModules
    installed = availableModules()
    storage = openStores(database, [installed["offline"], installed["mam"]])
    await storage.start()
    await AccountManager(storage).create(BOB, "pw")
    await storeArchived(storage.mam_offline, archiver, 1)
    await AccountManager(storage).delete(BOB)
    assert await rows(database, "mam_offline") == []
    assert await rows(database, "mam_messages") == []


@pytest_twisted.ensureDeferred
async def test_a_query_waits_for_a_reference_being_written(queue, archiver):
    stored = defer.ensureDeferred(storeArchived(queue, archiver, 1))
    settled = archiver.writer.settled(BOB)
    assert not settled.called
    await stored
    await settled
    assert archiver.writer.settled(BOB).called


@pytest_twisted.ensureDeferred
async def test_concurrent_archived_stores_archive_exactly_what_they_queue(
        backend, make_database, archiver):
    from tests.storage.test_offline import SlowCountingArchiveQueue
    database = await make_database(backend, schema=["xmppd.mam"],
                                   **({"pool_size": 7} if backend == "mysql" else {}))
    queue = SlowCountingArchiveQueue(database)
    results = await defer.DeferredList(
        [defer.ensureDeferred(storeArchived(queue, archiver, n, pairLimit=10))
         for n in range(30)], consumeErrors=True)
    assert sum(1 for ok, _ in results if ok) == 10
    assert all(isinstance(value.value, QuotaExceeded) for ok, value in results if not ok)
    assert await queue.count(BOB) == 10 and await MamStore(database).count(BOB) == 10
    assert [row[2] for row in await rows(database, "mam_offline")] == [1] * 10
