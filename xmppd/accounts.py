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

SASL asks for an account's keys at every login; the server's manager keeps
them (``CredentialsCache``) so that a login costs no database round trip
for them. What changes keys must reach that cache before the next login:
the server's own password changes and deletions drop the account's entry;
``xmppctl`` (another process, on the same config and data directory)
bumps the data directory's ``accounts.stamp`` after its write has
committed, and the server empties its cache whenever it finds the stamp
changed (one ``stat`` per login). Cluster nodes keep no cache (see
``xmppd.cluster.install``): a password changed on one node would not reach
the others' caches.
"""

import collections
import os

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


# Accounts whose keys the server keeps; a login of an account past them
# reads its keys from the database again.
CACHED_ACCOUNTS = 10_000
STAMP_FILE = "accounts.stamp"


class AccountsStamp:
    """
    The data directory's ``accounts.stamp``: appended to (one byte) by
    every process that changes or deletes an account's keys, after the
    change committed. Its size only grows, so ``read`` tells any change
    since an earlier ``read`` apart; the file's identity and time cover
    its deletion and re-creation.
    """

    def __init__(self, dataDir):
        self.path = os.path.join(dataDir, STAMP_FILE)

    def read(self):
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def bump(self):
        """
        Fail with OSError when the file cannot be written. Without the data
        directory no server runs on it (the server makes it at start):
        there is nobody to tell.
        """
        if not os.path.isdir(os.path.dirname(self.path) or "."):
            return
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(descriptor, b".")
        finally:
            os.close(descriptor)


class AccountKeysNotAnnounced(Exception):
    """
    The change committed, but the stamp that tells a running server to
    forget the old keys could not be written: until that server restarts
    (or the stamp is written) it may still accept the old password.
    """

    def __init__(self, jid, path, error):
        Exception.__init__(self, jid, path, error)
        self.jid = jid
        self.path = path
        self.error = error

    def __str__(self):
        return ("%s changed, but %s could not be written (%s): restart xmppd so that"
                " the old keys stop working" % (self.jid, self.path,
                                                self.error.strerror or self.error))


class CredentialsCache:
    """
    The SCRAM keys of recently logged-in accounts, least recently used
    first out. Only existing accounts are kept: an account
    created elsewhere is found at its first login.

    ``generation`` counts invalidations, so that a database read that was
    under way when the keys changed does not put the old keys back.
    """

    def __init__(self, stamp=None, size=CACHED_ACCOUNTS):
        self.stamp = stamp
        self.size = size
        self.entries = collections.OrderedDict()
        self.generation = 0
        self.seenStamp = stamp.read() if stamp is not None else None

    def _checkStamp(self):
        if self.stamp is None:
            return
        current = self.stamp.read()
        if current != self.seenStamp:
            self.seenStamp = current
            self.clear()

    def get(self, jid, hashName):
        """The cached credentials, or None; first forgets all if the stamp moved."""
        self._checkStamp()
        keys = self.entries.get(jid)
        if keys is None:
            return None
        self.entries.move_to_end(jid)
        return keys.get(hashName)

    def put(self, generation, jid, hashName, credentials):
        """Keep what a read begun at ``generation`` found, unless keys changed since."""
        if credentials is None or generation != self.generation:
            return
        self.entries.setdefault(jid, {})[hashName] = credentials
        self.entries.move_to_end(jid)
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)

    def forget(self, jid):
        self.generation += 1
        self.entries.pop(jid, None)

    def clear(self):
        self.generation += 1
        self.entries.clear()


class AccountManager:
    """
    ``dataDir``: where ``accounts.stamp`` lives (the config's data_dir).
    With ``cacheCredentials`` (the running server) the manager keeps the
    keys SASL reads and watches the stamp; without it (``xmppctl``) it
    bumps the stamp after each change of keys, for the server to see.
    """

    def __init__(self, storage, dataDir=None, cacheCredentials=False):
        self.storage = storage
        self.deletedListeners = []
        stamp = AccountsStamp(dataDir) if dataDir is not None else None
        self.credentialsCache = CredentialsCache(stamp) if cacheCredentials else None
        self.announcedBy = None if cacheCredentials else stamp

    def stopCachingCredentials(self):
        """For a server whose accounts other nodes change too (a cluster)."""
        self.credentialsCache = None

    def _keysChanged(self, jid):
        if self.credentialsCache is not None:
            self.credentialsCache.forget(jid)
        if self.announcedBy is not None:
            try:
                self.announcedBy.bump()
            except OSError as error:
                raise AccountKeysNotAnnounced(jid, self.announcedBy.path, error) from error

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
        d.addCallback(lambda _: self._keysChanged(jid))
        return d

    def delete(self, jid):
        """
        Delete the account and everything stored for it (fails
        UnknownUser), then call each of ``deletedListeners`` with ``jid``.
        """
        return defer.ensureDeferred(self._delete(jid))

    async def _delete(self, jid):
        await self.storage.deleteAccount(jid)
        try:
            self._keysChanged(jid)
        finally:
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
        cache = self.credentialsCache
        if cache is None:
            return self._readCredentials(jid, hashName)
        credentials = cache.get(jid, hashName)
        if credentials is not None:
            return defer.succeed(credentials)
        generation = cache.generation

        def keep(credentials):
            cache.put(generation, jid, hashName, credentials)
            return credentials
        return self._readCredentials(jid, hashName).addCallback(keep)

    def cachedScramCredentials(self, jid, hashName):
        """
        ``getScramCredentials``'s answer when the cache has it, else None
        (the account may still exist): a login of a cached account then
        needs no Deferred for its keys.
        """
        cache = self.credentialsCache
        if cache is None or hashName not in HASHES:
            return None
        return cache.get(jid, hashName)

    def _readCredentials(self, jid, hashName):
        d = self.users.getKeys(jid, hashName)
        d.addCallback(lambda keys: None if keys is None else ScramCredentials(*keys))
        return d

    def listUsers(self, host=None):
        return self.users.listUsers(host)

    def count(self, host):
        return self.users.count(host)
