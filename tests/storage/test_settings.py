"""The per-user key/value store on both backends."""

import pytest_twisted

from xmppd.storage import SettingsStore

ALICE = "alice@example.org"


@pytest_twisted.ensureDeferred
async def test_missing_setting_is_none(database):
    assert await SettingsStore(database).get(ALICE, "offline-msgs", "store-limit") is None


@pytest_twisted.ensureDeferred
async def test_set_then_get_returns_the_value(database):
    settings = SettingsStore(database)
    await settings.set(ALICE, "offline-msgs", "store-limit", "10")
    assert await settings.get(ALICE, "offline-msgs", "store-limit") == "10"


@pytest_twisted.ensureDeferred
async def test_set_overwrites_the_previous_value(database):
    settings = SettingsStore(database)
    await settings.set(ALICE, "offline-msgs", "store-limit", "10")
    await settings.set(ALICE, "offline-msgs", "store-limit", "false")
    assert await settings.get(ALICE, "offline-msgs", "store-limit") == "false"


@pytest_twisted.ensureDeferred
async def test_values_are_kept_apart_by_user_node_and_key(database):
    settings = SettingsStore(database)
    await settings.set(ALICE, "offline-msgs", "store-limit", "1")
    await settings.set("bob@example.org", "offline-msgs", "store-limit", "2")
    await settings.set(ALICE, "other-node", "store-limit", "3")
    await settings.set(ALICE, "offline-msgs", "other-key", "4")
    assert await settings.get(ALICE, "offline-msgs", "store-limit") == "1"
    assert await settings.get("bob@example.org", "offline-msgs", "store-limit") == "2"
    assert await settings.get(ALICE, "other-node", "store-limit") == "3"
    assert await settings.get(ALICE, "offline-msgs", "other-key") == "4"
    assert await settings.get("Alice@example.org", "offline-msgs", "store-limit") is None


@pytest_twisted.ensureDeferred
async def test_delete_removes_only_that_value(database):
    settings = SettingsStore(database)
    await settings.set(ALICE, "offline-msgs", "store-limit", "1")
    await settings.set(ALICE, "offline-msgs", "other-key", "2")
    await settings.delete(ALICE, "offline-msgs", "store-limit")
    await settings.delete(ALICE, "offline-msgs", "never-set")
    assert await settings.get(ALICE, "offline-msgs", "store-limit") is None
    assert await settings.get(ALICE, "offline-msgs", "other-key") == "2"


@pytest_twisted.ensureDeferred
async def test_values_keep_non_ascii_text_and_percent_signs(database):
    settings = SettingsStore(database)
    value = "100% \N{SNOWMAN} \N{PILE OF POO} ?"
    await settings.set(ALICE, "nöde", "kéy?", value)
    assert await settings.get(ALICE, "nöde", "kéy?") == value
