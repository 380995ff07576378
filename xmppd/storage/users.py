"""
Accounts: a bare JID and its SCRAM keys (RFC 5802) for SHA-1 and SHA-256.

The password itself is never stored, not even hashed with a plain digest:
StoredKey and ServerKey let the server check a client's proof and prove
itself, and PLAIN is verified by deriving the same keys (see xmppd.scram).
"""

import time

from twisted.internet import threads
from zope.interface import implementer

from xmppd.scram import HASHES, ScramCredentials, deriveCredentials
from xmppd.storage.interfaces import IUserStore, UnknownUser, UserExists

# Every table that holds rows belonging to one account, as (table, column
# holding the account's bare JID). Deleting an account deletes them in the
# same transaction; a feature that adds a per-user table adds it here.
USER_OWNED_TABLES = [
    ("settings", "jid"),
    ("offline_messages", "recipient"),
    ("offline_locks", "recipient"),
    ("roster_items", "owner"),
    ("roster_pending", "owner"),
    ("roster_versions", "owner"),
    ("blocklist", "owner"),
    ("last_activity", "jid"),
    ("private_xml", "owner"),
    ("vcards", "owner"),
    ("pep_services", "owner"),
    ("pep_nodes", "owner"),
    ("pep_items", "owner"),
    ("pep_affiliations", "owner"),
    ("pep_subscriptions", "owner"),
    ("mam_messages", "owner"),
    ("mam_prefs", "owner"),
    ("mam_prefs_jids", "owner"),
]

_HASH_NAMES = ("sha1", "sha256")
_KEY_COLUMNS = [
    "%s_%s" % (hashName, part)
    for hashName in _HASH_NAMES
    for part in ("salt", "iterations", "stored_key", "server_key")]


def _deriveAll(password):
    values = []
    for hashName in _HASH_NAMES:
        credentials = deriveCredentials(password, hashName)
        values += [credentials.salt, credentials.iterations,
                   credentials.storedKey, credentials.serverKey]
    return values


def _deriveInThread(password):
    # PBKDF2 costs milliseconds of CPU per hash; hashlib releases the GIL
    # meanwhile, so a thread keeps the reactor serving other clients.
    return threads.deferToThread(_deriveAll, password)


@implementer(IUserStore)
class UserStore:
    def __init__(self, database):
        self.database = database

    def create(self, jid, password):
        d = _deriveInThread(password)
        d.addCallback(lambda keys: self.database.runInteraction(self._create, jid, keys))
        return d

    def _create(self, transaction, jid, keys):
        columns = ["jid"] + _KEY_COLUMNS + ["created_at"]
        try:
            transaction.execute(
                "INSERT INTO users (%s) VALUES (%s)"
                % (", ".join(columns), ", ".join("?" * len(columns))),
                [jid] + keys + [int(time.time() * 1_000_000)])
        except transaction.engine.driverErrors as error:
            if transaction.engine.isDuplicateKey(error):
                raise UserExists(jid) from error
            raise

    def setPassword(self, jid, password):
        d = _deriveInThread(password)
        d.addCallback(lambda keys: self.database.runInteraction(self._setPassword, jid, keys))
        return d

    def _setPassword(self, transaction, jid, keys):
        # Checked apart from the UPDATE: MySQL's rowcount is rows *changed*.
        if not transaction.execute(
                "SELECT 1 FROM users WHERE jid = ?" + transaction.engine.forUpdate(),
                (jid,)).fetchall():
            raise UnknownUser(jid)
        transaction.execute(
            "UPDATE users SET %s WHERE jid = ?"
            % ", ".join("%s = ?" % column for column in _KEY_COLUMNS),
            keys + [jid])

    def delete(self, jid):
        return self.database.runInteraction(self._delete, jid)

    def _delete(self, transaction, jid):
        if transaction.execute("DELETE FROM users WHERE jid = ?", (jid,)).rowcount == 0:
            raise UnknownUser(jid)
        for table, column in USER_OWNED_TABLES:
            transaction.execute("DELETE FROM %s WHERE %s = ?" % (table, column), (jid,))

    def exists(self, jid):
        d = self.database.runQuery("SELECT 1 FROM users WHERE jid = ?", (jid,))
        d.addCallback(bool)
        return d

    def getScramCredentials(self, jid, hashName):
        if hashName not in HASHES:
            raise ValueError("unknown SCRAM hash %r" % (hashName,))
        d = self.database.runQuery(
            "SELECT {0}_salt, {0}_iterations, {0}_stored_key, {0}_server_key"
            " FROM users WHERE jid = ?".format(hashName), (jid,))
        d.addCallback(_credentialsFromRows)
        return d

    def count(self, host):
        """Fire how many accounts ``host`` has."""
        suffix = "@" + host
        d = self.database.runQuery(
            "SELECT COUNT(*) FROM users WHERE SUBSTR(jid, ?) = ?", (-len(suffix), suffix))
        d.addCallback(lambda rows: int(rows[0][0]))
        return d

    def listUsers(self, host=None):
        if host is None:
            d = self.database.runQuery("SELECT jid FROM users")
        else:
            # A suffix comparison rather than LIKE: SQLite's LIKE ignores
            # ASCII case and both treat '_' in a host name as a wildcard.
            # SUBSTR counts characters from the end in both dialects.
            suffix = "@" + host
            d = self.database.runQuery(
                "SELECT jid FROM users WHERE SUBSTR(jid, ?) = ?",
                (-len(suffix), suffix))
        d.addCallback(lambda rows: sorted(row[0] for row in rows))
        return d


def _credentialsFromRows(rows):
    if not rows:
        return None
    salt, iterations, storedKey, serverKey = rows[0]
    return ScramCredentials(bytes(salt), int(iterations), bytes(storedKey), bytes(serverKey))
