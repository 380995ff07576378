"""
Accounts, one contract held on memory, SQLite and MariaDB: the users store
keeps the SCRAM keys it is given and nothing else, and the account manager
derives them so that a real SCRAM exchange succeeds for the right password
and fails for a wrong one.
"""

import base64
import hashlib
import hmac
import os

import pytest
import pytest_twisted

from xmppd.scram import HASHES, ScramError, ScramServer
from xmppd.storage import StorageError, UnknownUser, UserExists, UserStore
from xmppd.storage.memory import MemoryUserStore

PASSWORD = "correct horse battery staple \N{HORSE}"


def _hmac(hashName, key, message):
    return hmac.new(key, message, HASHES[hashName]).digest()


async def scramLogin(accounts, jid, password, hashName):
    """
    Run one SCRAM exchange as a client would compute it (RFC 5802 §3)
    against xmppd.scram.ScramServer fed by the account manager; return whether the
    server accepted the proof and proved itself.
    """
    username, host = jid.split("@")
    server = ScramServer(hashName, lambda name: accounts.getScramCredentials(
        name + "@" + host, hashName))
    clientFirstBare = "n=%s,r=%s" % (username, base64.b64encode(os.urandom(12)).decode())
    server.parseClientFirst(("n,," + clientFirstBare).encode())
    serverFirst = server.serverFirst(await server.lookup(server.username)).decode()
    attrs = dict(part.split("=", 1) for part in serverFirst.split(","))

    salted = hashlib.pbkdf2_hmac(hashName, password.encode("utf-8"),
                                 base64.b64decode(attrs["s"]), int(attrs["i"]))
    clientKey = _hmac(hashName, salted, b"Client Key")
    storedKey = HASHES[hashName](clientKey).digest()
    withoutProof = "c=%s,r=%s" % (base64.b64encode(b"n,,").decode(), attrs["r"])
    authMessage = ",".join((clientFirstBare, serverFirst, withoutProof)).encode()
    signature = _hmac(hashName, storedKey, authMessage)
    proof = bytes(a ^ b for a, b in zip(clientKey, signature))
    try:
        serverFinal = server.verifyClientFinal(
            (withoutProof + ",p=" + base64.b64encode(proof).decode()).encode())
    except ScramError as error:
        assert error.condition == "not-authorized"
        return False
    serverKey = _hmac(hashName, salted, b"Server Key")
    assert serverFinal == b"v=" + base64.b64encode(_hmac(hashName, serverKey, authMessage))
    return True


ALICE = "alice@example.org"


def keys(n):
    """A key set as the auth layer would hand it over, distinct per ``n``."""
    return {"sha1": (bytes([n]) * 16, 4096 + n, bytes([n]) * 20, bytes([n + 1]) * 20),
            "sha256": (bytes([n + 2]) * 16, 4096 + n, bytes([n]) * 32, bytes([n + 3]) * 32)}


class TestUserStore:
    def test_the_backend_has_its_own_users_store(self, stores, store_backend):
        expected = MemoryUserStore if store_backend == "memory" else UserStore
        assert type(stores.users) is expected

    @pytest_twisted.ensureDeferred
    async def test_the_keys_given_are_the_keys_kept(self, stores):
        users = stores.users
        await users.create(ALICE, keys(1))
        for hashName in ("sha1", "sha256"):
            assert await users.getKeys(ALICE, hashName) == keys(1)[hashName]
        await users.setKeys(ALICE, keys(7))
        assert await users.getKeys(ALICE, "sha256") == keys(7)["sha256"]

    @pytest_twisted.ensureDeferred
    async def test_created_user_exists_and_is_listed_and_counted(self, stores):
        users = stores.users
        assert not await users.exists(ALICE)
        for n, jid in enumerate((ALICE, "bob@example.org", "carol@example.net")):
            await users.create(jid, keys(n))
        assert await users.exists(ALICE)
        assert await users.listUsers() == [ALICE, "bob@example.org", "carol@example.net"]
        assert await users.listUsers("example.net") == ["carol@example.net"]
        assert await users.listUsers("nowhere.example") == []
        assert await users.count("example.org") == 2
        assert await users.count("nowhere.example") == 0

    @pytest_twisted.ensureDeferred
    async def test_list_users_of_host_matches_the_host_exactly(self, stores):
        users = stores.users
        for n, jid in enumerate(("a@x_y.example", "b@xzy.example", "c@sub.x_y.example",
                                 "d@X_Y.example")):
            await users.create(jid, keys(n))
        assert await users.listUsers("x_y.example") == ["a@x_y.example"]
        assert await users.count("x_y.example") == 1

    @pytest_twisted.ensureDeferred
    async def test_creating_an_existing_user_fails_user_exists_and_keeps_its_keys(
            self, stores):
        users = stores.users
        await users.create(ALICE, keys(1))
        with pytest.raises(UserExists):
            await users.create(ALICE, keys(2))
        assert issubclass(UserExists, StorageError)
        assert await users.getKeys(ALICE, "sha1") == keys(1)["sha1"]

    @pytest_twisted.ensureDeferred
    async def test_jids_differing_in_case_are_different_accounts(self, stores):
        users = stores.users
        await users.create(ALICE, keys(1))
        await users.create("Alice@example.org", keys(2))
        assert await users.listUsers() == ["Alice@example.org", ALICE]

    @pytest_twisted.ensureDeferred
    async def test_unknown_user_has_no_keys_and_an_unknown_hash_is_refused(self, stores):
        assert await stores.users.getKeys("nobody@example.org", "sha256") is None
        with pytest.raises(ValueError):
            stores.users.getKeys("nobody@example.org", "md5")

    @pytest_twisted.ensureDeferred
    async def test_set_keys_of_unknown_user_fails_unknown_user(self, stores):
        with pytest.raises(UnknownUser):
            await stores.users.setKeys("nobody@example.org", keys(1))
        assert not await stores.users.exists("nobody@example.org")

    @pytest_twisted.ensureDeferred
    async def test_deleting_an_unknown_account_fails_and_deletes_nothing(self, stores):
        await stores.settings.set("nobody@example.org", "n", "k", "v")
        with pytest.raises(UnknownUser):
            await stores.deleteAccount("nobody@example.org")
        # The rows of a JID without an account are not the account's.
        assert await stores.settings.get("nobody@example.org", "n", "k") == "v"


class TestAccounts:
    @pytest.mark.parametrize("hashName", ["sha1", "sha256"])
    @pytest_twisted.ensureDeferred
    async def test_scram_exchange_succeeds_with_the_right_password_only(
            self, account_manager, hashName):
        await account_manager.create(ALICE, PASSWORD)
        assert await scramLogin(account_manager, ALICE, PASSWORD, hashName)
        assert not await scramLogin(account_manager, ALICE, PASSWORD + "x", hashName)

    @pytest_twisted.ensureDeferred
    async def test_creating_an_existing_account_keeps_the_first_password(self, account_manager):
        await account_manager.create(ALICE, PASSWORD)
        with pytest.raises(UserExists):
            await account_manager.create(ALICE, "other")
        assert await scramLogin(account_manager, ALICE, PASSWORD, "sha256")

    @pytest_twisted.ensureDeferred
    async def test_credentials_of_each_hash_are_distinct_and_salted_per_user(
            self, account_manager):
        await account_manager.create(ALICE, PASSWORD)
        await account_manager.create("bob@example.org", PASSWORD)
        sha1 = await account_manager.getScramCredentials(ALICE, "sha1")
        sha256 = await account_manager.getScramCredentials(ALICE, "sha256")
        bob = await account_manager.getScramCredentials("bob@example.org", "sha256")
        assert len(sha1.storedKey) == 20 and len(sha256.storedKey) == 32
        assert sha1.iterations >= 4096 and sha256.iterations >= 4096
        assert bob.salt != sha256.salt and bob.storedKey != sha256.storedKey

    @pytest_twisted.ensureDeferred
    async def test_unknown_user_has_no_credentials(self, account_manager):
        assert await account_manager.getScramCredentials("nobody@example.org", "sha256") is None
        with pytest.raises(ValueError):
            account_manager.getScramCredentials("nobody@example.org", "md5")

    @pytest_twisted.ensureDeferred
    async def test_set_password_replaces_the_keys(self, account_manager):
        await account_manager.create(ALICE, "old secret")
        await account_manager.setPassword(ALICE, "new secret")
        for hashName in ("sha1", "sha256"):
            assert await scramLogin(account_manager, ALICE, "new secret", hashName)
            assert not await scramLogin(account_manager, ALICE, "old secret", hashName)

    @pytest_twisted.ensureDeferred
    async def test_set_password_of_unknown_user_fails_unknown_user(self, account_manager):
        with pytest.raises(UnknownUser):
            await account_manager.setPassword("nobody@example.org", "secret")
        assert not await account_manager.exists("nobody@example.org")

    @pytest_twisted.ensureDeferred
    async def test_delete_unknown_user_fails_unknown_user_and_tells_nobody(
            self, account_manager):
        told = []
        account_manager.deletedListeners.append(told.append)
        with pytest.raises(UnknownUser):
            await account_manager.delete("nobody@example.org")
        assert told == []

    @pytest_twisted.ensureDeferred
    async def test_deleting_an_account_deletes_every_stores_rows_then_tells(
            self, stores, account_manager):
        told = []
        account_manager.deletedListeners.append(told.append)
        for jid in (ALICE, "bob@example.org"):
            await account_manager.create(jid, PASSWORD)
            await stores.settings.set(jid, "offline-msgs", "store-limit", "5")
            await stores.offline.store(jid, "carol@example.org", "<message/>", 1, pairLimit=10)
            await stores.lastActivity.set(jid, 1_700_000_000)
        await stores.offline.store("carol@example.org", ALICE, "<message/>", 1)

        await account_manager.delete(ALICE)

        assert told == [ALICE]
        assert not await account_manager.exists(ALICE)
        assert await account_manager.getScramCredentials(ALICE, "sha1") is None
        assert await stores.settings.get(ALICE, "offline-msgs", "store-limit") is None
        assert await stores.offline.count(ALICE) == 0
        assert await stores.lastActivity.get(ALICE) is None
        # Rows that merely mention the account, and other accounts' rows, stay.
        assert await stores.offline.count("carol@example.org") == 1
        assert await stores.settings.get("bob@example.org", "offline-msgs", "store-limit") == "5"
        assert await stores.offline.count("bob@example.org") == 1
        # The account can be created afresh, with nothing left over.
        await account_manager.create(ALICE, "again")
        assert await stores.offline.count(ALICE) == 0


@pytest_twisted.ensureDeferred
async def test_no_column_of_the_users_table_holds_the_password(database, accounts):
    await accounts.create(ALICE, PASSWORD)
    await accounts.setPassword(ALICE, PASSWORD)

    def everyCell(transaction):
        transaction.execute("SELECT * FROM users")
        columns = [d[0] for d in transaction.cursor.description]
        return columns, transaction.fetchall()

    columns, rows = await database.runInteraction(everyCell)
    assert len(rows) == 1 and "password" not in " ".join(columns).lower()
    secret = PASSWORD.encode("utf-8")
    for cell in rows[0]:
        raw = cell if isinstance(cell, bytes) else str(cell).encode("utf-8")
        assert secret not in raw and secret.hex().encode() not in raw
        assert base64.b64encode(secret) not in raw


def test_storage_never_sees_a_password():
    """The users store takes keys: neither it nor anything in xmppd.storage derives them."""
    import ast
    import pathlib

    import xmppd.storage
    for path in pathlib.Path(xmppd.storage.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                     for alias in node.names}
        assert "xmppd.scram" not in imported and "xmppd.accounts" not in imported, path.name


class TestCredentialsCache:
    """
    The server's account manager keeps the keys SASL reads between logins;
    every change of keys -- its own, or xmppctl's in another process on the
    same data directory -- reaches it before the next login.
    """

    @staticmethod
    def serverManager(stores, tmp_path):
        from xmppd.accounts import AccountManager
        return AccountManager(stores, str(tmp_path), cacheCredentials=True)

    @staticmethod
    def ctlManager(stores, tmp_path):
        from xmppd.accounts import AccountManager
        return AccountManager(stores, str(tmp_path))

    @pytest_twisted.ensureDeferred
    async def test_keys_are_read_from_storage_once_per_account_and_hash(
            self, stores, tmp_path, monkeypatch):
        server = self.serverManager(stores, tmp_path)
        await server.create(ALICE, PASSWORD)
        reads = []
        getKeys = stores.users.getKeys
        monkeypatch.setattr(stores.users, "getKeys",
                            lambda jid, hashName: reads.append(hashName) or getKeys(jid, hashName))
        for _ in range(3):
            assert await scramLogin(server, ALICE, PASSWORD, "sha256")
        assert await scramLogin(server, ALICE, PASSWORD, "sha1")
        assert reads == ["sha256", "sha1"]

    @pytest_twisted.ensureDeferred
    async def test_password_changed_by_the_server_refuses_the_old_one_at_next_login(
            self, stores, tmp_path):
        server = self.serverManager(stores, tmp_path)
        await server.create(ALICE, PASSWORD)
        assert await scramLogin(server, ALICE, PASSWORD, "sha256")
        await server.setPassword(ALICE, "new password")
        assert not await scramLogin(server, ALICE, PASSWORD, "sha256")
        assert await scramLogin(server, ALICE, "new password", "sha256")

    @pytest_twisted.ensureDeferred
    async def test_account_deleted_by_the_server_cannot_log_in_from_the_cache(
            self, stores, tmp_path):
        server = self.serverManager(stores, tmp_path)
        await server.create(ALICE, PASSWORD)
        assert await scramLogin(server, ALICE, PASSWORD, "sha1")
        await server.delete(ALICE)
        assert await server.getScramCredentials(ALICE, "sha1") is None

    @pytest_twisted.ensureDeferred
    async def test_password_changed_by_another_process_refuses_the_old_one_at_next_login(
            self, stores, tmp_path):
        server = self.serverManager(stores, tmp_path)
        await server.create(ALICE, PASSWORD)
        assert await scramLogin(server, ALICE, PASSWORD, "sha256")
        await self.ctlManager(stores, tmp_path).setPassword(ALICE, "new password")
        assert not await scramLogin(server, ALICE, PASSWORD, "sha256")
        assert await scramLogin(server, ALICE, "new password", "sha256")

    @pytest_twisted.ensureDeferred
    async def test_account_deleted_by_another_process_cannot_log_in_from_the_cache(
            self, stores, tmp_path):
        server = self.serverManager(stores, tmp_path)
        await server.create(ALICE, PASSWORD)
        assert await scramLogin(server, ALICE, PASSWORD, "sha256")
        await self.ctlManager(stores, tmp_path).delete(ALICE)
        assert await server.getScramCredentials(ALICE, "sha256") is None

    @pytest_twisted.ensureDeferred
    async def test_a_stamp_that_cannot_be_written_fails_the_change_after_it_committed(
            self, stores, tmp_path):
        from xmppd.accounts import AccountKeysNotAnnounced
        server = self.serverManager(stores, tmp_path)
        await server.create(ALICE, PASSWORD)
        (tmp_path / "accounts.stamp").mkdir()
        with pytest.raises(AccountKeysNotAnnounced) as raised:
            await self.ctlManager(stores, tmp_path).setPassword(ALICE, "new password")
        assert "restart xmppd" in str(raised.value)
        assert await scramLogin(self.ctlManager(stores, tmp_path), ALICE, "new password", "sha1")


def test_a_read_under_way_when_the_keys_change_does_not_bring_the_old_keys_back():
    from xmppd.accounts import CredentialsCache
    from xmppd.scram import deriveCredentials
    cache = CredentialsCache()
    old = deriveCredentials("old", "sha256", iterations=1)
    readBegunAt = cache.generation
    cache.forget(ALICE)
    cache.put(readBegunAt, ALICE, "sha256", old)
    assert cache.get(ALICE, "sha256") is None
    cache.put(cache.generation, ALICE, "sha256", old)
    assert cache.get(ALICE, "sha256") is old


def test_the_cache_keeps_the_most_recently_used_accounts_only():
    from xmppd.accounts import CredentialsCache
    from xmppd.scram import deriveCredentials
    cache = CredentialsCache(size=2)
    keys = deriveCredentials("pw", "sha256", iterations=1)
    for name in ("a", "b", "c"):
        for hashName in ("sha1", "sha256"):
            cache.put(cache.generation, name, hashName, keys)
        cache.get("a", "sha256")
    assert cache.get("a", "sha256") is keys and cache.get("c", "sha1") is keys
    assert cache.get("b", "sha256") is None and cache.get("b", "sha1") is None
