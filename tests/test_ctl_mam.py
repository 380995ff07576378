"""``xmppctl mam`` against a real database on both backends."""

import time

import pytest_twisted

from tests.test_ctl_offline import ctl, ok  # noqa: F401  (the fixture)

DAY = 86400 * 10**6


def archived(owner, n, stamp):
    return (owner, "id-%s-%d" % (owner, n), stamp, "alice@localhost", "r1",
            "<message xmlns='jabber:client'><body>%d</body></message>" % n)


@pytest_twisted.ensureDeferred
async def test_count_and_purge_a_user_then_by_age(ctl):  # noqa: F811
    now = int(time.time() * 1_000_000)
    await ctl.storage.mam.append([archived("bob@localhost", n, now - n * DAY) for n in range(4)]
                                 + [archived("carol@localhost", n, now - n * 2 * DAY)
                                    for n in range(3)])
    assert ok(ctl.run("mam", "count", "bob@localhost")).strip() == "4"
    assert ok(ctl.run("mam", "purge", "--older-than", "1.5")).strip() == \
        "purged 4 archived messages older than 1.5 days"
    assert await ctl.storage.mam.count("bob@localhost") == 2
    assert await ctl.storage.mam.count("carol@localhost") == 1
    assert ok(ctl.run("mam", "purge", "bob@localhost")).strip() == \
        "purged 2 archived messages of bob@localhost"
    assert await ctl.storage.mam.count("carol@localhost") == 1
    unknown = ctl.run("mam", "purge", "nobody@localhost")
    assert unknown.returncode == 1
    assert unknown.stderr.strip().splitlines() == ["xmppctl: no such user: nobody@localhost"]


def test_mam_commands_say_so_when_the_mam_module_is_off(ctl, tmp_path):  # noqa: F811
    import os
    import subprocess
    import sys

    from tests.test_ctl_offline import REPO
    config = tmp_path / "without-mam.toml"
    config.write_text(ctl.config.read_text().replace("[modules.mam]\nenabled = true\n", ""))
    result = subprocess.run(
        [sys.executable, "-m", "xmppd.ctl", "--config", str(config), "mam", "count",
         "bob@localhost"], capture_output=True, text=True, timeout=60,
        env=dict(os.environ, PYTHONPATH=REPO))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "xmppctl: no enabled module opens a store named 'mam':"
        " is its module enabled in the config?"]


async def waitingInTheArchiveQueue(storage, body, storedAt):
    """A message to offline bob as the server stores it with mam on: archived, referred to."""
    from twisted.words.protocols.jabber.jid import JID
    from wokkel.generic import parseXml

    from xmppd.api import annotate
    from xmppd.mam.archive import ARCHIVING, ArchiveWriter, OfflineArchiving
    from xmppd.mam.stanzaids import ArchiveClock, addStanzaId
    from xmppd.offline.service import storedCopy

    class Archiver:
        clock = ArchiveClock()
        writer = ArchiveWriter(None)
    message = parseXml(("<message xmlns='jabber:client' from='alice@localhost/r1'"
                        " to='bob@localhost'><body>%s</body></message>" % body).encode())
    addStanzaId(message, "bob@localhost", "sid-" + body)
    annotate(message, ARCHIVING, OfflineArchiving(Archiver(), "bob@localhost",
                                                  JID("alice@localhost/r1"), "sid-" + body))
    xml = storedCopy(message, "localhost", storedAt)
    await storage.mam_offline.store("bob@localhost", "alice@localhost", xml, storedAt,
                                    stanza=message)
    return xml


@pytest_twisted.ensureDeferred
async def test_a_purge_leaves_waiting_offline_messages_whole(ctl):  # noqa: F811
    now = int(time.time() * 1_000_000)
    xml = await waitingInTheArchiveQueue(ctl.storage, "still waiting", now)
    assert ok(ctl.run("offline", "count", "bob@localhost")).strip() == "1"
    assert ok(ctl.run("mam", "purge", "bob@localhost")).strip() == \
        "purged 1 archived messages of bob@localhost"
    assert await ctl.storage.mam.count("bob@localhost") == 0
    # The message waits on, with its copy back: listed as it will be delivered.
    [line] = ok(ctl.run("offline", "list", "bob@localhost")).splitlines()
    assert line.endswith("\t" + xml) and "sid-still waiting" in line
    assert ok(ctl.run("offline", "purge", "bob@localhost")).strip() == \
        "purged 1 messages of bob@localhost"
    assert await ctl.storage.mam_offline.count("bob@localhost") == 0
