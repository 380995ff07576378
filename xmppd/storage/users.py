"""
Accounts: a bare JID and its SCRAM keys (RFC 5802) for SHA-1 and SHA-256.

The store keeps keys it is given, ready: deriving them from a password is
the auth layer's business (``xmppd.accounts``, with ``xmppd.scram``), so
that the password never reaches storage at all. A key set is a mapping
``{"sha1": (salt, iterations, storedKey, serverKey), "sha256": (...)}``.
"""

import time

from zope.interface import implementer

from xmppd.storage.interfaces import IUserStore, UnknownUser, UserExists
from xmppd.storage.registry import SQLStore

# The hashes the users table has columns for.
HASH_NAMES = ("sha1", "sha256")
_KEY_COLUMNS = [
    "%s_%s" % (hashName, part)
    for hashName in HASH_NAMES
    for part in ("salt", "iterations", "stored_key", "server_key")]


def keyValues(keys):
    """The column values of a key set, in ``_KEY_COLUMNS`` order."""
    values = []
    for hashName in HASH_NAMES:
        salt, iterations, storedKey, serverKey = keys[hashName]
        values += [bytes(salt), int(iterations), bytes(storedKey), bytes(serverKey)]
    return values


def checkHashName(hashName):
    if hashName not in HASH_NAMES:
        raise ValueError("unknown SCRAM hash %r" % (hashName,))


@implementer(IUserStore)
class UserStore(SQLStore):
    def create(self, jid, keys):
        return self.database.runInteraction(self._create, jid, keyValues(keys))

    def _create(self, transaction, jid, values):
        columns = ["jid"] + _KEY_COLUMNS + ["created_at"]
        try:
            transaction.execute(
                "INSERT INTO users (%s) VALUES (%s)"
                % (", ".join(columns), ", ".join("?" * len(columns))),
                [jid] + values + [int(time.time() * 1_000_000)])
        except transaction.engine.driverErrors as error:
            if transaction.engine.isDuplicateKey(error):
                raise UserExists(jid) from error
            raise

    def setKeys(self, jid, keys):
        return self.database.runInteraction(self._setKeys, jid, keyValues(keys))

    def _setKeys(self, transaction, jid, values):
        # Checked apart from the UPDATE: MySQL's rowcount is rows *changed*.
        if not transaction.execute(
                "SELECT 1 FROM users WHERE jid = ?" + transaction.engine.forUpdate(),
                (jid,)).fetchall():
            raise UnknownUser(jid)
        transaction.execute(
            "UPDATE users SET %s WHERE jid = ?"
            % ", ".join("%s = ?" % column for column in _KEY_COLUMNS),
            values + [jid])

    def deleteAccount(self, transaction, jid):
        if transaction.execute("DELETE FROM users WHERE jid = ?", (jid,)).rowcount == 0:
            raise UnknownUser(jid)

    def exists(self, jid):
        d = self.database.runQuery("SELECT 1 FROM users WHERE jid = ?", (jid,))
        d.addCallback(bool)
        return d

    def getKeys(self, jid, hashName):
        checkHashName(hashName)
        d = self.database.runQuery(
            "SELECT {0}_salt, {0}_iterations, {0}_stored_key, {0}_server_key"
            " FROM users WHERE jid = ?".format(hashName), (jid,))
        d.addCallback(_keysFromRows)
        return d

    def count(self, host):
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


def _keysFromRows(rows):
    if not rows:
        return None
    salt, iterations, storedKey, serverKey = rows[0]
    return bytes(salt), int(iterations), bytes(storedKey), bytes(serverKey)
