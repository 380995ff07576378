"""
The digest's store, opened by xmppd as ``storage.digest`` (the server's
``host.storage.digest``, and ``storage.digest`` in an ``xmppctl`` command)
on the table of ``schema/<dialect>/0001_digest.sql``.

Every query is written once, with ``?`` placeholders, for SQLite and
MySQL alike; under ``[storage] backend = "memory"`` they run on SQLite in
memory.
"""

from xmppd.api import SQLStore

from xmppd_digest.interfaces import Sender

_SENDERS = ("SELECT sender, messages, last_stored FROM digest_senders"
            " WHERE recipient = ? ORDER BY messages DESC, sender")


class DigestStore(SQLStore):
    # Deleted with the account, in the transaction that deletes it; what
    # the account sent others stays counted in their digests.
    accountTables = (("digest_senders", "recipient"),)

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
