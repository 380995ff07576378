"""
Accounts as the auth layer sees them: passwords come in, SCRAM keys
(RFC 5802) go to storage, and nothing below this module ever sees a
password.

One manager per server (``server.accounts``, offered to modules as
``host.accounts``) and one per ``xmppctl`` run: in-band registration,
``xmppctl adduser``/``passwd``/``deluser`` and SASL all go through it.
Deleting an account deletes what every store holds for it, in one
transaction on SQL backends (``StoreRegistry.deleteAccount``), and then
tells the listeners -- the running server fires ``ACCOUNT_DELETED`` on the
account's host so that modules drop what they keep in memory.
"""

from twisted.internet import defer, threads

from xmppd.scram import HASHES, ScramCredentials, deriveCredentials

# The hashes every account has keys for (SCRAM-SHA-1 and SCRAM-SHA-256).
KEY_HASHES = ("sha1", "sha256")


def deriveKeys(password):
    """The key set of ``password``, as the users store keeps it."""
    keys = {}
    for hashName in KEY_HASHES:
        credentials = deriveCredentials(password, hashName)
        keys[hashName] = (credentials.salt, credentials.iterations,
                          credentials.storedKey, credentials.serverKey)
    return keys


class AccountManager:
    def __init__(self, storage):
        self.storage = storage
        self.deletedListeners = []

    @property
    def users(self):
        return self.storage.users

    def _derive(self, password):
        # PBKDF2 costs milliseconds of CPU per hash; hashlib releases the GIL
        # meanwhile, so a thread keeps the reactor serving other clients.
        return threads.deferToThread(deriveKeys, password)

    def create(self, jid, password):
        """Create the account ``jid`` (a normalised bare JID); fails UserExists."""
        d = self._derive(password)
        d.addCallback(lambda keys: self.users.create(jid, keys))
        return d

    def setPassword(self, jid, password):
        """Replace the account's keys; fails UnknownUser."""
        d = self._derive(password)
        d.addCallback(lambda keys: self.users.setKeys(jid, keys))
        return d

    def delete(self, jid):
        """
        Delete the account and everything stored for it (fails
        UnknownUser), then call each of ``deletedListeners`` with ``jid``.
        """
        return defer.ensureDeferred(self._delete(jid))

    async def _delete(self, jid):
        await self.storage.deleteAccount(jid)
        for listener in list(self.deletedListeners):
            listener(jid)

    def exists(self, jid):
        return self.users.exists(jid)

    def getScramCredentials(self, jid, hashName):
        """
        Fire the ``xmppd.scram.ScramCredentials`` of ``jid`` for ``hashName``
        ('sha1' or 'sha256'), or None when there is no such account.
        """
        if hashName not in HASHES:
            raise ValueError("unknown SCRAM hash %r" % (hashName,))
        d = self.users.getKeys(jid, hashName)
        d.addCallback(lambda keys: None if keys is None else ScramCredentials(*keys))
        return d

    def listUsers(self, host=None):
        return self.users.listUsers(host)

    def count(self, host):
        return self.users.count(host)
