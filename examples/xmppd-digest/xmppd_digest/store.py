"""
The digest's store, opened by xmppd as ``storage.digest`` (the server's
``host.storage.digest``, and ``storage.digest`` in an ``xmppctl`` command):
``DigestStore`` on the table of ``schema/<dialect>/0001_digest.sql``, or
``MemoryDigestStore`` when the server keeps everything in memory.

Every query is written once, with ``?`` placeholders, for SQLite and
MySQL alike.
"""

from twisted.internet import defer

from xmppd_digest.interfaces import Sender


def openDigestStore(database):
    """The ``stores=`` factory: the store that fits the configured backend."""
    if database.backend == "memory":
        return MemoryDigestStore()
    return DigestStore(database)

_SENDERS = ("SELECT sender, messages, last_stored FROM digest_senders"
            " WHERE recipient = ? ORDER BY messages DESC, sender")


class DigestStore:
    def __init__(self, database):
        self.database = database

    def count(self, recipient, sender, storedAt):
        """Count one more message from ``sender`` stored for ``recipient``."""
        return self.database.runInteraction(self._count, recipient, sender, storedAt)

    def _count(self, transaction, recipient, sender, storedAt):
        # Two portable statements instead of a dialect's upsert: the server
        # counts a recipient's messages in its lane, one after the other, so
        # no second insert of the same row can come between them.
        updated = transaction.execute(
            "UPDATE digest_senders SET messages = messages + 1, last_stored = ?"
            " WHERE recipient = ? AND sender = ?", (storedAt, recipient, sender)).rowcount
        if not updated:
            transaction.execute(
                "INSERT INTO digest_senders (recipient, sender, messages, last_stored)"
                " VALUES (?, ?, 1, ?)", (recipient, sender, storedAt))

    def senders(self, recipient):
        return self.database.runInteraction(self._senders, recipient)

    def _senders(self, transaction, recipient):
        return [Sender(*row) for row in transaction.execute(_SENDERS, (recipient,)).fetchall()]

    def take(self, recipient):
        """The digest, emptied in the same transaction: no count falls between."""
        return self.database.runInteraction(self._take, recipient)

    def _take(self, transaction, recipient):
        senders = self._senders(transaction, recipient)
        transaction.execute("DELETE FROM digest_senders WHERE recipient = ?", (recipient,))
        return senders

    def reset(self, recipient):
        """Empty the digest; fire how many senders it named."""
        return self.database.runOperation(
            "DELETE FROM digest_senders WHERE recipient = ?", (recipient,))

    def deleteAccount(self, transaction, jid):
        """
        Called by xmppd inside the transaction that deletes the account: its
        digest goes with it (what it sent others stays counted in theirs).
        """
        transaction.execute("DELETE FROM digest_senders WHERE recipient = ?", (jid,))


class MemoryDigestStore:
    """``DigestStore`` in Python objects, for ``[storage] backend = "memory"``."""

    def __init__(self):
        self._digests = {}

    def count(self, recipient, sender, storedAt):
        digest = self._digests.setdefault(recipient, {})
        messages, _ = digest.get(sender, (0, None))
        digest[sender] = (messages + 1, storedAt)
        return defer.succeed(None)

    def _senders(self, recipient):
        digest = self._digests.get(recipient, {})
        senders = [Sender(jid, messages, last) for jid, (messages, last) in digest.items()]
        return sorted(senders, key=lambda sender: (-sender.messages, sender.jid))

    def senders(self, recipient):
        return defer.succeed(self._senders(recipient))

    def take(self, recipient):
        senders = self._senders(recipient)
        self._digests.pop(recipient, None)
        return defer.succeed(senders)

    def reset(self, recipient):
        return defer.succeed(len(self._digests.pop(recipient, {})))

    def deleteAccount(self, transaction, jid):
        self._digests.pop(jid, None)
