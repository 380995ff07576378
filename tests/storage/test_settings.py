"""The per-user key/value store: one contract, held on memory, SQLite and MariaDB."""

import pytest_twisted

from xmppd.storage import SettingsStore
from xmppd.storage.memory import MemorySettingsStore

ALICE = "alice@example.org"


class TestSettingsStore:
    def test_the_backend_has_its_own_settings_store(self, stores, store_backend):
        expected = MemorySettingsStore if store_backend == "memory" else SettingsStore
        assert type(stores.settings) is expected

    @pytest_twisted.ensureDeferred
    async def test_missing_setting_is_none(self, stores):
        assert await stores.settings.get(ALICE, "offline-msgs", "store-limit") is None

    @pytest_twisted.ensureDeferred
    async def test_set_then_get_returns_the_value(self, stores):
        settings = stores.settings
        await settings.set(ALICE, "offline-msgs", "store-limit", "10")
        assert await settings.get(ALICE, "offline-msgs", "store-limit") == "10"

    @pytest_twisted.ensureDeferred
    async def test_set_overwrites_the_previous_value(self, stores):
        settings = stores.settings
        await settings.set(ALICE, "offline-msgs", "store-limit", "10")
        await settings.set(ALICE, "offline-msgs", "store-limit", "false")
        assert await settings.get(ALICE, "offline-msgs", "store-limit") == "false"

    @pytest_twisted.ensureDeferred
    async def test_values_are_kept_apart_by_user_node_and_key(self, stores):
        settings = stores.settings
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
    async def test_delete_removes_only_that_value(self, stores):
        settings = stores.settings
        await settings.set(ALICE, "offline-msgs", "store-limit", "1")
        await settings.set(ALICE, "offline-msgs", "other-key", "2")
        assert await settings.delete(ALICE, "offline-msgs", "store-limit") is None
        await settings.delete(ALICE, "offline-msgs", "never-set")
        assert await settings.get(ALICE, "offline-msgs", "store-limit") is None
        assert await settings.get(ALICE, "offline-msgs", "other-key") == "2"

    @pytest_twisted.ensureDeferred
    async def test_values_keep_non_ascii_text_and_percent_signs(self, stores):
        settings = stores.settings
        value = "100% \N{SNOWMAN} \N{PILE OF POO} ?"
        await settings.set(ALICE, "nöde", "kéy?", value)
        assert await settings.get(ALICE, "nöde", "kéy?") == value

    @pytest_twisted.ensureDeferred
    async def test_deleting_the_account_deletes_its_settings_only(self, stores, account_manager):
        settings = stores.settings
        for jid in (ALICE, "bob@example.org"):
            await account_manager.create(jid, "pw")
            await settings.set(jid, "offline-msgs", "store-limit", "5")
        await account_manager.delete(ALICE)
        assert await settings.get(ALICE, "offline-msgs", "store-limit") is None
        assert await settings.get("bob@example.org", "offline-msgs", "store-limit") == "5"
