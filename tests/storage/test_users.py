"""
Accounts on both backends: only SCRAM keys are stored, and they let a real
SCRAM exchange succeed for the right password and fail for a wrong one.
"""

import base64
import hashlib
import hmac
import os

import pytest
import pytest_twisted

from xmppd.scram import HASHES, ScramError, ScramServer
from xmppd.offline.store import OfflineStore
from xmppd.storage import SettingsStore, StorageError, UnknownUser, UserExists

PASSWORD = "correct horse battery staple \N{HORSE}"


def _hmac(hashName, key, message):
    return hmac.new(key, message, HASHES[hashName]).digest()


async def scramLogin(users, jid, password, hashName):
    """
    Run one SCRAM exchange as a client would compute it (RFC 5802 §3)
    against xmppd.scram.ScramServer fed by the store; return whether the
    server accepted the proof and proved itself.
    """
    username, host = jid.split("@")
    server = ScramServer(hashName, lambda name: users.getScramCredentials(
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


@pytest_twisted.ensureDeferred
async def test_created_user_exists_and_is_listed(accounts):
    users = accounts
    assert not await users.exists("alice@example.org")
    await users.create("alice@example.org", PASSWORD)
    await users.create("bob@example.org", "b")
    await users.create("carol@example.net", "c")
    assert await users.exists("alice@example.org")
    assert await users.listUsers() == [
        "alice@example.org", "bob@example.org", "carol@example.net"]
    assert await users.listUsers("example.net") == ["carol@example.net"]
    assert await users.listUsers("nowhere.example") == []


@pytest_twisted.ensureDeferred
async def test_list_users_of_host_matches_the_host_exactly(accounts):
    users = accounts
    await users.create("a@x_y.example", "p")
    await users.create("b@xzy.example", "p")
    await users.create("c@sub.x_y.example", "p")
    await users.create("d@X_Y.example", "p")
    assert await users.listUsers("x_y.example") == ["a@x_y.example"]


@pytest_twisted.ensureDeferred
async def test_creating_an_existing_user_fails_user_exists(accounts):
    users = accounts
    await users.create("alice@example.org", PASSWORD)
    with pytest.raises(UserExists):
        await users.create("alice@example.org", "other")
    assert issubclass(UserExists, StorageError)
    assert await scramLogin(users, "alice@example.org", PASSWORD, "sha256")


@pytest_twisted.ensureDeferred
async def test_jids_differing_in_case_are_different_accounts(accounts):
    users = accounts
    await users.create("alice@example.org", "p")
    await users.create("Alice@example.org", "p")
    assert await users.listUsers() == ["Alice@example.org", "alice@example.org"]


@pytest.mark.parametrize("hashName", ["sha1", "sha256"])
@pytest_twisted.ensureDeferred
async def test_scram_exchange_succeeds_with_the_right_password_only(accounts, hashName):
    users = accounts
    await users.create("alice@example.org", PASSWORD)
    assert await scramLogin(users, "alice@example.org", PASSWORD, hashName)
    assert not await scramLogin(users, "alice@example.org", PASSWORD + "x", hashName)


@pytest_twisted.ensureDeferred
async def test_credentials_of_each_hash_are_distinct_and_salted_per_user(accounts):
    users = accounts
    await users.create("alice@example.org", PASSWORD)
    await users.create("bob@example.org", PASSWORD)
    sha1 = await users.getScramCredentials("alice@example.org", "sha1")
    sha256 = await users.getScramCredentials("alice@example.org", "sha256")
    bob = await users.getScramCredentials("bob@example.org", "sha256")
    assert len(sha1.storedKey) == 20 and len(sha256.storedKey) == 32
    assert sha1.iterations >= 4096 and sha256.iterations >= 4096
    assert bob.salt != sha256.salt and bob.storedKey != sha256.storedKey


@pytest_twisted.ensureDeferred
async def test_unknown_user_has_no_credentials(accounts):
    users = accounts
    assert await users.getScramCredentials("nobody@example.org", "sha256") is None
    with pytest.raises(ValueError):
        users.getScramCredentials("nobody@example.org", "md5")


@pytest_twisted.ensureDeferred
async def test_no_column_of_the_users_table_holds_the_password(database, accounts):
    users = accounts
    await users.create("alice@example.org", PASSWORD)
    await users.setPassword("alice@example.org", PASSWORD)

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


@pytest_twisted.ensureDeferred
async def test_set_password_replaces_the_keys(accounts):
    users = accounts
    await users.create("alice@example.org", "old secret")
    await users.setPassword("alice@example.org", "new secret")
    for hashName in ("sha1", "sha256"):
        assert await scramLogin(users, "alice@example.org", "new secret", hashName)
        assert not await scramLogin(users, "alice@example.org", "old secret", hashName)


@pytest_twisted.ensureDeferred
async def test_set_password_of_unknown_user_fails_unknown_user(accounts):
    users = accounts
    with pytest.raises(UnknownUser):
        await users.setPassword("nobody@example.org", "secret")
    assert not await users.exists("nobody@example.org")


@pytest_twisted.ensureDeferred
async def test_delete_unknown_user_fails_unknown_user(accounts):
    with pytest.raises(UnknownUser):
        await accounts.delete("nobody@example.org")


@pytest_twisted.ensureDeferred
async def test_deleting_a_user_deletes_its_settings_and_offline_messages(database, accounts):
    users, settings, offline = (accounts, SettingsStore(database), OfflineStore(database))
    for jid in ("alice@example.org", "bob@example.org"):
        await users.create(jid, PASSWORD)
        await settings.set(jid, "offline-msgs", "store-limit", "5")
        await offline.store(jid, "carol@example.org", "<message/>", 1, pairLimit=10)
    await offline.store("carol@example.org", "alice@example.org", "<message/>", 1)

    await users.delete("alice@example.org")

    assert not await users.exists("alice@example.org")
    assert await users.getScramCredentials("alice@example.org", "sha1") is None
    assert await settings.get("alice@example.org", "offline-msgs", "store-limit") is None
    assert await offline.count("alice@example.org") == 0
    # Rows that merely mention the account, and other accounts' rows, stay.
    assert await offline.count("carol@example.org") == 1
    assert await settings.get("bob@example.org", "offline-msgs", "store-limit") == "5"
    assert await offline.count("bob@example.org") == 1
    # The account can be created afresh, with nothing left over.
    await users.create("alice@example.org", "again")
    assert await offline.count("alice@example.org") == 0
