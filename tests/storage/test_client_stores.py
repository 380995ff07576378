"""
The stores of the client-facing modules on both backends: last activity
(XEP-0012), private XML (XEP-0049) and vCards (XEP-0054), and that deleting
an account deletes their rows.
"""

import pytest
import pytest_twisted

from xmppd.storage.interfaces import PrivateStorageFull
from xmppd.lastactivity.store import LastActivityStore
from xmppd.private.store import PrivateXMLStore
from xmppd.vcard.store import VCardStore

ALICE, BOB = "alice@example.org", "bob@example.org"
BOOKMARKS = "<storage xmlns='storage:bookmarks'><conference jid='r@muc.example.org'/></storage>"


@pytest_twisted.ensureDeferred
async def test_last_activity_is_none_until_recorded_then_the_latest_logout(database):
    last = LastActivityStore(database)
    assert await last.get(ALICE) is None
    await last.set(ALICE, 1_700_000_000, "gone fishing")
    await last.set(ALICE, 1_700_000_100, "back \N{SNOWMAN} later")
    await last.set(BOB, 1_600_000_000)
    assert await last.get(ALICE) == (1_700_000_100, "back \N{SNOWMAN} later")
    assert await last.get(BOB) == (1_600_000_000, "")


def rowsIn(database):
    return database.runQuery("SELECT jid, logout_at, status FROM last_activity ORDER BY jid")


@pytest_twisted.ensureDeferred
async def test_logouts_are_written_together_later_and_answered_meanwhile(database, accounts):
    from twisted.internet.task import Clock

    from xmppd.lastactivity.store import WRITE_DELAY
    clock = Clock()
    last = LastActivityStore(database, clock)
    for jid in (ALICE, BOB):
        await accounts.create(jid, "pw")
    await last.set(ALICE, 1_700_000_000, "away")
    await last.set(BOB, 1_700_000_001)
    await last.set(ALICE, 1_700_000_002)
    assert await rowsIn(database) == []
    assert await last.get(ALICE) == (1_700_000_002, "")
    clock.advance(WRITE_DELAY)
    await last.flush()
    assert [tuple(r) for r in await rowsIn(database)] == [
        (ALICE, 1_700_000_002, ""), (BOB, 1_700_000_001, "")]
    assert await last.get(BOB) == (1_700_000_001, "")


@pytest_twisted.ensureDeferred
async def test_a_logout_waiting_when_its_account_is_deleted_is_never_written(
        database, accounts):
    from twisted.internet.task import Clock
    last = LastActivityStore(database, Clock())
    await accounts.create(ALICE, "pw")
    await last.set(ALICE, 1_700_000_000)
    # A write that took the logout before the deletion finds no account.
    flushed = last.flush()
    await accounts.delete(ALICE)
    await flushed
    await last.set("nobody@example.org", 1_700_000_000)
    await last.flush()
    assert await rowsIn(database) == []
    assert await last.get(ALICE) is None


@pytest_twisted.ensureDeferred
async def test_logouts_still_waiting_are_written_before_the_database_stops(
        database, accounts):
    from twisted.internet.task import Clock
    last = LastActivityStore(database, Clock())
    await accounts.create(ALICE, "pw")
    await last.set(ALICE, 1_700_000_000, "bye")
    await database.stop()
    await database.start()
    assert [tuple(r) for r in await rowsIn(database)] == [(ALICE, 1_700_000_000, "bye")]


@pytest_twisted.ensureDeferred
async def test_private_xml_is_kept_per_account_and_namespace(database):
    private = PrivateXMLStore(database)
    assert await private.get(ALICE, "storage:bookmarks") is None
    await private.set(ALICE, "storage:bookmarks", BOOKMARKS)
    await private.set(ALICE, "exodus:prefs", "<prefs xmlns='exodus:prefs'/>")
    await private.set(BOB, "storage:bookmarks", "<storage xmlns='storage:bookmarks'/>")
    assert await private.get(ALICE, "storage:bookmarks") == BOOKMARKS
    assert await private.get(BOB, "storage:bookmarks") == "<storage xmlns='storage:bookmarks'/>"
    assert await private.namespaces(ALICE) == ["exodus:prefs", "storage:bookmarks"]
    await private.set(ALICE, "storage:bookmarks", "<storage xmlns='storage:bookmarks'/>")
    assert await private.get(ALICE, "storage:bookmarks") == "<storage xmlns='storage:bookmarks'/>"


@pytest_twisted.ensureDeferred
async def test_private_xml_refuses_a_new_namespace_past_the_limit_but_replaces_old_ones(database):
    private = PrivateXMLStore(database)
    await private.set(ALICE, "a:1", "<x xmlns='a:1'/>", maxNamespaces=2)
    await private.set(ALICE, "a:2", "<x xmlns='a:2'/>", maxNamespaces=2)
    with pytest.raises(PrivateStorageFull):
        await private.set(ALICE, "a:3", "<x xmlns='a:3'/>", maxNamespaces=2)
    await private.set(ALICE, "a:2", "<y xmlns='a:2'/>", maxNamespaces=2)
    assert await private.namespaces(ALICE) == ["a:1", "a:2"]
    assert await private.get(ALICE, "a:2") == "<y xmlns='a:2'/>"


@pytest_twisted.ensureDeferred
async def test_vcard_is_stored_replaced_and_deleted_with_its_photo_hash(database):
    vcards = VCardStore(database)
    assert await vcards.get(ALICE) is None
    await vcards.set(ALICE, "<vCard xmlns='vcard-temp'><FN>Alice</FN></vCard>")
    assert await vcards.get(ALICE) == ("<vCard xmlns='vcard-temp'><FN>Alice</FN></vCard>", "")
    big = "<vCard xmlns='vcard-temp'><PHOTO><BINVAL>%s</BINVAL></PHOTO></vCard>" % ("A" * 90000)
    await vcards.set(ALICE, big, "a" * 40)
    assert await vcards.get(ALICE) == (big, "a" * 40)
    await vcards.delete(ALICE)
    assert await vcards.get(ALICE) is None


@pytest_twisted.ensureDeferred
async def test_deleting_an_account_deletes_its_last_activity_private_xml_and_vcard(
        database, accounts):
    # The registry's own last-activity store: the one the deletion tells of
    # the account, whose waiting logout goes with it.
    last, private, vcards = (accounts.storage.lastActivity, PrivateXMLStore(database),
                             VCardStore(database))
    for jid in (ALICE, BOB):
        await accounts.create(jid, "pw")
        await last.set(jid, 1_700_000_000)
        await private.set(jid, "storage:bookmarks", BOOKMARKS)
        await vcards.set(jid, "<vCard xmlns='vcard-temp'/>")
    await accounts.delete(ALICE)
    assert await last.get(ALICE) is None
    assert await private.namespaces(ALICE) == []
    assert await vcards.get(ALICE) is None
    assert await last.get(BOB) == (1_700_000_000, "")
    assert await private.namespaces(BOB) == ["storage:bookmarks"]
    assert await vcards.get(BOB) is not None
