"""``xmppctl offline`` against a real database on both backends (SPEC §9)."""

import os
import subprocess
import sys

import pytest
import pytest_twisted

from xmppd.storage import Database

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOUR = 3600 * 10**6


@pytest_twisted.async_yield_fixture
async def ctl(backend, database_options, tmp_path):
    """
    ``ctl.run(*args)`` runs xmppctl on a config enabling offline and mam;
    ``ctl.storage`` is the same database, open here.
    """
    from xmppd.accounts import AccountManager
    from xmppd.config import loadConfig
    from xmppd.tap import availableModules, moduleSchemas, storesFor
    options = database_options(backend)
    lines = ["[server]", 'data_dir = "%s"' % (tmp_path / "data"), "",
             "[modules.mam]", "enabled = true", "",
             "[storage]", 'backend = "%s"' % backend, ""]
    section = "[storage.sqlite]" if backend == "sqlite" else "[storage.mysql]"
    lines += [section] + ["%s = %s" % (k, v if isinstance(v, int) else '"%s"' % v)
                          for k, v in options.items()]
    config = tmp_path / "xmppd.toml"
    config.write_text("\n".join(lines) + "\n")
    modules = availableModules()
    database = Database(backend, **options)
    storage = storesFor(database, loadConfig(str(config), moduleSchemas(modules)), modules)
    await storage.start()

    class Ctl:
        @staticmethod
        def run(*args):
            argv = [sys.executable, "-m", "xmppd.ctl", "--config", str(config)] + list(args)
            return subprocess.run(argv, capture_output=True, text=True, timeout=60,
                                  env=dict(os.environ, PYTHONPATH=REPO))
    Ctl.storage = storage
    Ctl.config = config

    await AccountManager(storage).create("bob@localhost", "pw")
    await AccountManager(storage).create("carol@localhost", "pw")
    yield Ctl
    await database.stop()


def ok(result):
    assert result.returncode == 0, result.stderr
    return result.stdout


async def storeFor(storage, recipient, body, storedAt, expiresAt=None):
    xml = "<message xmlns='jabber:client' to='%s'><body>%s</body></message>" % (recipient, body)
    return await storage.offline.store(recipient, "alice@localhost", xml, storedAt, expiresAt)


@pytest_twisted.ensureDeferred
async def test_count_list_and_purge_a_user(ctl):
    from xmppd.offline.store import nowMicroseconds
    now = nowMicroseconds()
    for n in range(3):
        await storeFor(ctl.storage, "bob@localhost", "hello %d" % n, now)
    await storeFor(ctl.storage, "carol@localhost", "for carol", now)
    assert ok(ctl.run("offline", "count", "bob@localhost")).strip() == "3"
    listed = ok(ctl.run("offline", "list", "bob@localhost")).strip().splitlines()
    assert len(listed) == 3
    assert [("hello %d" % n) in line for n, line in enumerate(listed)] == [True] * 3
    assert all("alice@localhost" in line for line in listed)
    assert ok(ctl.run("offline", "purge", "bob@localhost")).strip() == \
        "purged 3 messages of bob@localhost"
    assert await ctl.storage.offline.count("bob@localhost") == 0
    assert await ctl.storage.offline.count("carol@localhost") == 1


@pytest_twisted.ensureDeferred
async def test_purge_expired_and_older_than(ctl):
    from xmppd.offline.store import nowMicroseconds
    now = nowMicroseconds()
    await storeFor(ctl.storage, "bob@localhost", "expired", now, expiresAt=now - HOUR)
    await storeFor(ctl.storage, "bob@localhost", "three days old", now - 72 * HOUR)
    await storeFor(ctl.storage, "bob@localhost", "fresh", now)
    assert ok(ctl.run("offline", "purge", "--expired")).strip() == "purged 1 expired messages"
    assert ok(ctl.run("offline", "purge", "--older-than", "2")).strip() == \
        "purged 1 messages older than 2 days"
    rows = await ctl.storage.offline.listMessages("bob@localhost")
    assert ["fresh" in row[4] for row in rows] == [True]


@pytest_twisted.ensureDeferred
async def test_limit_read_and_set(ctl):
    assert ok(ctl.run("offline", "limit", "bob@localhost")).strip() == "100 (pair_limit)"
    assert "set to 7" in ok(ctl.run("offline", "limit", "bob@localhost", "7"))
    assert await ctl.storage.settings.get("bob@localhost", "offline-msgs", "store-limit") == "7"
    assert "set to false" in ok(ctl.run("offline", "limit", "bob@localhost", "false"))
    assert await ctl.storage.settings.get(
        "bob@localhost", "offline-msgs", "store-limit") == "false"
    bad = ctl.run("offline", "limit", "bob@localhost", "-5")
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args", [
    ("count", "nobody@localhost"), ("list", "nobody@localhost"),
    ("purge", "nobody@localhost"), ("limit", "nobody@localhost", "5")])
@pytest_twisted.ensureDeferred
async def test_unknown_user_is_a_one_line_error(ctl, args):
    result = ctl.run("offline", *args)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["xmppctl: no such user: nobody@localhost"]
