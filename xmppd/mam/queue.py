"""
The offline queue kept with the archive (``[modules.mam] offline_in_archive``):
an IOfflineQueue whose rows refer to the archive instead of holding a
second copy of each message (ejabberd's ``use_mam_for_storage``).

A message that offline storage stores and MAM archives is written once:
the archive row and the queue row that refers to it go in one transaction
(``store``), after the limits were counted under the recipient's lock, so a
message over quota is neither queued nor archived. The queue row keeps
what the queue itself needs -- recipient, sender, when it was stored, when
it expires, the size of the copy handed out -- and ``archive_id``; reading
it (``fetch``) joins the archive and hands out the archived stanza with
the XEP-0203 delay of ``stored_at`` (``offlineCopy``): the bytes the
offline module would have stored. A reference is kept only when those
bytes are exactly the stored copy; otherwise, and for a message that is
not archived (``no-permanent-store``, preferences, receipts), the row
holds the copy itself, as the offline module's queue does.

So the queue has two kinds of rows and one order: ids, limits, expiry and
deletion know no difference. Deleting a queue row never deletes the archive
row. An archive purge (``max_age``, ``xmppctl mam purge``) first gives the
queue rows that refer to the rows it deletes their copy back (MamStore), so
no reference ever points at nothing.
"""

import time

from twisted.internet import defer
from twisted.python import log
from wokkel.generic import parseXml
from zope.interface import implementer

from xmppd.api import (NO_ACCOUNT, OverQuota, accountExists, boundedLimit, deleteQueueRows,
                       raiseOverQuota)
from xmppd.api import (
    IOfflineQueue, SQLStore, annotation, exceededBytes, exceededLimit,
    offlineCopy)

from xmppd.mam.archive import ARCHIVING
from xmppd.mam.stanzaids import NS_SID, stanzaIdBy

_ROW = ("SELECT q.id, q.recipient, q.sender, q.stored_at, q.expires_at, q.xml, m.xml"
        " FROM mam_offline q LEFT JOIN mam_messages m"
        " ON q.xml IS NULL AND m.id = q.archive_id")


def domainOf(recipient):
    return recipient.rsplit("@", 1)[-1]


def _copy(row):
    """(id, recipient, sender, storedAt, expiresAt, xml) of a joined row; xml None if lost."""
    rowId, recipient, sender, storedAt, expiresAt, own, archived = row
    if own is None and archived is not None:
        own = offlineCopy(archived, domainOf(recipient), int(storedAt))
    if own is None:
        log.msg("MAM offline queue: row %s of %s refers to no archived message" % (
            rowId, recipient))
    expiresAt = None if expiresAt is None else int(expiresAt)
    return (rowId, recipient, sender, int(storedAt), expiresAt, own)


def _copies(rows):
    return [copy for copy in (_copy(row) for row in rows) if copy[5] is not None]




def _deleteIds(transaction, ids, recipient=None):
    return deleteQueueRows(transaction, "mam_offline", ids, recipient)


def _archivedId(xml, recipient):
    """The stanza-id ``by`` the recipient in a stored copy, or None."""
    if NS_SID not in xml:
        return None
    try:
        return stanzaIdBy(parseXml(xml.encode("utf-8")), recipient)
    except Exception:
        return None


@implementer(IOfflineQueue)
class ArchiveQueue(SQLStore):
    accountTables = [("mam_offline", "recipient"), ("mam_offline_locks", "recipient")]

    def __repr__(self):
        return "<ArchiveQueue %s>" % (self.database.backend,)

    # Storing -------------------------------------------------------------------------

    # Stores commit in the order asked (Database.runOrdered).
    ordered = True

    def store(self, recipient, sender, xml, storedAt, expiresAt=None,
              pairLimit=None, userLimit=None, userBytesLimit=None, stanza=None,
              requireAccount=False):
        archiving = None if stanza is None else annotation(stanza, ARCHIVING)
        archiveRow = archivedId = None
        if archiving is not None and not archiving.written:
            archiveRow = archiving.row(stanza)
        elif stanza is not None:
            # Archived when it was first routed (a departed session's leftovers).
            archivedId = stanzaIdBy(stanza, recipient)
        d = self.database.runOrdered(
            self._store, recipient, sender, xml, storedAt, expiresAt,
            boundedLimit(pairLimit), boundedLimit(userLimit), userBytesLimit, archiveRow, archivedId,
            requireAccount)
        d.addCallback(raiseOverQuota)
        if archiveRow is not None:
            d.addCallback(archiving.stored)
            archiving.track(d)
        return d

    def _store(self, transaction, recipient, sender, xml, storedAt, expiresAt,
               pairLimit, userLimit, userBytesLimit, archiveRow, archivedId,
               requireAccount=False):
        if requireAccount and not accountExists(transaction, recipient):
            return NO_ACCOUNT
        size = len(xml.encode("utf-8"))
        if pairLimit is not None or userLimit is not None or userBytesLimit is not None:
            transaction.engine.lockKey(transaction, "mam_offline_locks", "recipient", recipient)
            over = self._over(transaction, recipient, sender, pairLimit, userLimit,
                              userBytesLimit, size)
            if over is not None:
                return OverQuota(over)
        archiveId = archivedXml = None
        if archiveRow is not None:
            archiveId = transaction.engine.insertReturningId(
                transaction,
                "INSERT INTO mam_messages (owner, stanza_id, stamp, with_bare, with_resource,"
                " xml) VALUES (?, ?, ?, ?, ?, ?)", archiveRow)
            archivedXml = archiveRow[5]
        elif archivedId is not None:
            found = transaction.execute(
                "SELECT id, xml FROM mam_messages WHERE owner = ? AND stanza_id = ?",
                (recipient, archivedId)).fetchone()
            if found is not None:
                archiveId, archivedXml = found
        return self._insert(transaction, recipient, sender, storedAt, expiresAt, size,
                            archiveId, archivedXml, xml)

    def _insert(self, transaction, recipient, sender, storedAt, expiresAt, size,
                archiveId, archivedXml, xml):
        # The reference stands for the copy only if it gives these very bytes.
        if archivedXml is not None and offlineCopy(
                archivedXml, domainOf(recipient), storedAt) == xml:
            xml = None
        return transaction.engine.insertReturningId(
            transaction,
            "INSERT INTO mam_offline (recipient, sender, stored_at, expires_at, size,"
            " archive_id, xml) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (recipient, sender, storedAt, expiresAt, size, archiveId, xml))

    def wouldExceed(self, recipient, sender, pairLimit=None, userLimit=None):
        return self.database.runInteraction(
            self._over, recipient, sender, boundedLimit(pairLimit), boundedLimit(userLimit))

    def _over(self, transaction, recipient, sender, pairLimit, userLimit,
              bytesLimit=None, size=0):
        """
        The limit one more row would pass (pair, user, then bytes), or None;
        the counts and the byte sum in one round trip. Each count stops at
        its limit (LIMIT in a derived table), so a long queue costs no more
        to check than a full one. Expired rows not yet swept still count.
        """
        if (pairLimit is not None and pairLimit <= 0) or (userLimit is not None
                                                          and userLimit <= 0):
            return exceededLimit(pairLimit, userLimit, 0, 0)
        parts, args = [], []
        if pairLimit is not None:
            parts.append("SELECT COUNT(*) FROM (SELECT 1 FROM mam_offline"
                         " WHERE recipient = ? AND sender = ? LIMIT ?) AS pair_rows")
            args += [recipient, sender, pairLimit]
        if userLimit is not None:
            parts.append("SELECT COUNT(*) FROM (SELECT 1 FROM mam_offline"
                         " WHERE recipient = ? LIMIT ?) AS user_rows")
            args += [recipient, userLimit]
        if bytesLimit is not None:
            if exceededBytes(bytesLimit, 0, size) and not parts:
                return "bytes"
            parts.append("SELECT COALESCE(SUM(size), 0) FROM mam_offline WHERE recipient = ?")
            args.append(recipient)
        if not parts:
            return None
        row = list(transaction.execute(
            "SELECT " + ", ".join("(%s)" % part for part in parts), args).fetchone())
        pairCount = int(row.pop(0)) if pairLimit is not None else 0
        userCount = int(row.pop(0)) if userLimit is not None else 0
        over = exceededLimit(pairLimit, userLimit, pairCount, userCount)
        if over is None and bytesLimit is not None:
            over = exceededBytes(bytesLimit, int(row.pop(0)), size)
        return over

    # Reading -------------------------------------------------------------------------

    def fetch(self, recipient, afterId=0, limit=100, now=None):
        if now is None:
            now = int(time.time() * 1_000_000)
        d = self.database.runQuery(
            _ROW + " WHERE q.recipient = ? AND q.id > ?"
            " AND (q.expires_at IS NULL OR q.expires_at > ?) ORDER BY q.id LIMIT ?",
            (recipient, afterId, now, limit))
        d.addCallback(lambda rows: [(c[0], c[2], c[5]) for c in _copies(rows)])
        return d

    def listMessages(self, recipient):
        d = self.database.runQuery(_ROW + " WHERE q.recipient = ? ORDER BY q.id", (recipient,))
        d.addCallback(lambda rows: [(c[0], c[2], c[3], c[4], c[5]) for c in _copies(rows)])
        return d

    def count(self, recipient):
        d = self.database.runQuery(
            "SELECT COUNT(*) FROM mam_offline WHERE recipient = ?", (recipient,))
        d.addCallback(lambda rows: int(rows[0][0]))
        return d

    def export(self, afterId=0, limit=500):
        return self.database.runInteraction(self._export, afterId, limit)

    def _export(self, transaction, afterId, limit):
        # A dormant queue (mam off) in a database that never had this table.
        if "mam_offline" not in transaction.engine.listTables(transaction.cursor):
            return []
        rows = transaction.execute(
            _ROW + " WHERE q.id > ? ORDER BY q.id LIMIT ?", (afterId, limit)).fetchall()
        return _copies(rows)

    # Deleting ------------------------------------------------------------------------

    def delete(self, ids, recipient=None):
        """Delete exactly these queue rows (never an archive row); fire how many."""
        return self.database.runInteraction(_deleteIds, ids, recipient)

    def purge(self, recipient):
        return self.database.runOperation(
            "DELETE FROM mam_offline WHERE recipient = ?", (recipient,))

    def purgeExpired(self, now):
        return self.database.runInteraction(self._purgeExpired, now)

    def _purgeExpired(self, transaction, now):
        # A locking read: the rows reported are the rows deleted (see
        # OfflineStore._purgeExpired), none a delivery is deleting.
        rows = transaction.execute(
            _ROW + " WHERE q.expires_at <= ? ORDER BY q.id" + transaction.engine.forUpdate(),
            (now,)).fetchall()
        _deleteIds(transaction, [row[0] for row in rows])
        return [(c[0], c[1], c[2], c[5]) for c in _copies(rows)]

    def purgeOlderThan(self, cutoff):
        return self.database.runOperation(
            "DELETE FROM mam_offline WHERE stored_at < ?", (cutoff,))

    # Handing over ----------------------------------------------------------------------

    def adopt(self, rows):
        """
        Rows of another queue: a stored copy that is the archived message
        plus its delay becomes a reference (what was stored twice before
        ``offline_in_archive`` is stored once from now on).
        """
        rows = [(recipient, sender, storedAt, expiresAt, xml, _archivedId(xml, recipient))
                for recipient, sender, storedAt, expiresAt, xml in rows]
        if not rows:
            return defer.succeed(0)
        return self.database.runInteraction(self._adopt, rows)

    def _adopt(self, transaction, rows):
        for recipient, sender, storedAt, expiresAt, xml, stanzaId in rows:
            archiveId = archivedXml = None
            if stanzaId is not None:
                found = transaction.execute(
                    "SELECT id, xml FROM mam_messages WHERE owner = ? AND stanza_id = ?",
                    (recipient, stanzaId)).fetchone()
                if found is not None:
                    archiveId, archivedXml = found
            self._insert(transaction, recipient, sender, storedAt, expiresAt,
                         len(xml.encode("utf-8")), archiveId, archivedXml, xml)
        return len(rows)

    # MAM login sync ----------------------------------------------------------------------

    def dropArchived(self, recipient, upTo):
        """
        Delete ``recipient``'s rows whose message is in the archive with a
        stamp at or below ``upTo``: what a client that synced through MAM
        could have read there. Fire how many.
        """
        return self.database.runOperation(
            "DELETE FROM mam_offline WHERE recipient = ? AND archive_id IN"
            " (SELECT id FROM mam_messages WHERE owner = ? AND stamp <= ?)",
            (recipient, recipient, upTo))
