"""
Message archives (XEP-0313): each user's one-to-one messages, in order,
and the user's archiving preferences.

An archive is ordered by (stamp, id): ``stamp`` is when the server took the
message (µs), ``id`` the row's sequence breaking ties. Every query is a
range of one index -- (owner, stamp, id), or (owner, with_bare, stamp, id)
when it names a correspondent -- read in one direction and cut at a page,
so a page costs the same at the start of a 100,000-message archive as at
its end. A position a client names (RSM ``after``/``before``, the
``after-id``/``before-id`` fields) is the message's ``stanza_id``; it is
turned into its (stamp, id) in the same transaction as the page.
"""

import hashlib

from twisted.internet import defer

from xmppd.api import SQLStore, offlineCopy

# XEP-0313 queries name at most this many ids; keeps ``IN (...)`` small.
MAX_IDS = 250


class ArchiveItemNotFound(Exception):
    """A stanza id a query names is not in the owner's archive."""

    def __init__(self, stanzaId):
        Exception.__init__(self, stanzaId)
        self.stanzaId = stanzaId


class ArchiveQuery:
    """
    One page request. ``withBare``/``withResource``: the correspondent
    (``withResource`` None matches every resource); ``start``/``end``: µs,
    inclusive; ``afterId``/``beforeId``: exclusive positions, by stanza id
    (the form's fields and RSM's alike: all of them apply); ``ids``: only
    these; ``backward``: the page is taken from the end of the range (RSM
    ``<before/>``); ``limit``: the page size.
    """

    def __init__(self, owner, withBare=None, withResource=None, start=None, end=None,
                 afterIds=(), beforeIds=(), ids=None, backward=False, limit=50,
                 count=True):
        self.owner = owner
        self.withBare = withBare
        self.withResource = withResource
        self.start = start
        self.end = end
        self.afterIds = [i for i in afterIds if i is not None]
        self.beforeIds = [i for i in beforeIds if i is not None]
        self.ids = None if ids is None else list(ids)[:MAX_IDS]
        self.backward = backward
        self.limit = limit
        self.count = count


class ArchivePage:
    """
    ``rows``: (stanza_id, stamp, xml) in archive order; ``complete``: no
    matching message lies beyond the page in the direction of paging;
    ``count``: how many match the query's filters (paging aside), or None.
    """

    def __init__(self, rows, complete, count):
        self.rows = rows
        self.complete = complete
        self.count = count


def _hash(jid):
    return hashlib.sha256(jid.encode("utf-8")).hexdigest()


def _releaseQueued(transaction, where, args):
    """
    The archive's queue rows that refer to the archive rows matching
    ``where`` (columns of mam_messages) take their copy and let go of the
    reference.
    """
    aliased = " AND ".join("m." + condition for condition in where.split(" AND "))
    rows = transaction.execute(
        "SELECT q.id, q.recipient, q.stored_at, m.xml FROM mam_offline q"
        " JOIN mam_messages m ON m.id = q.archive_id WHERE q.xml IS NULL AND " + aliased
        + transaction.engine.forUpdate(), args).fetchall()
    if rows:
        transaction.executemany(
            "UPDATE mam_offline SET xml = ?, archive_id = NULL WHERE id = ?",
            [(offlineCopy(xml, recipient.rsplit("@", 1)[-1], int(storedAt)), rowId)
             for rowId, recipient, storedAt, xml in rows])
    # Those that kept a copy of their own (it differed) only let go.
    transaction.execute(
        "UPDATE mam_offline SET archive_id = NULL WHERE archive_id IN"
        " (SELECT id FROM mam_messages WHERE %s)" % where, args)


class MamStore(SQLStore):
    # An account's rows in the archive's offline queue refer only to its
    # own archive, and go in the same transaction (ArchiveQueue).
    accountTables = [("mam_messages", "owner"), ("mam_prefs", "owner"),
                     ("mam_prefs_jids", "owner")]

    # Writing -------------------------------------------------------------------------

    def append(self, rows):
        """
        Archive ``rows`` of (owner, stanza_id, stamp, with_bare,
        with_resource, xml) in one transaction, in their order.
        """
        if not rows:
            return defer.succeed(0)
        return self.database.runInteraction(self._append, list(rows))

    def _append(self, transaction, rows):
        transaction.executemany(
            "INSERT INTO mam_messages (owner, stanza_id, stamp, with_bare, with_resource, xml)"
            " VALUES (?, ?, ?, ?, ?, ?)", rows)
        return len(rows)

    # Reading -------------------------------------------------------------------------

    def query(self, query):
        """Fire an ArchivePage; fail ArchiveItemNotFound for an unknown position."""
        return self.database.runInteraction(self._query, query)

    def _position(self, transaction, owner, stanzaId):
        row = transaction.execute(
            "SELECT stamp, id FROM mam_messages WHERE owner = ? AND stanza_id = ?",
            (owner, stanzaId)).fetchone()
        if row is None:
            raise ArchiveItemNotFound(stanzaId)
        return int(row[0]), int(row[1])

    def _filters(self, query):
        where, args = ["owner = ?"], [query.owner]
        if query.withBare is not None:
            where.append("with_bare = ?")
            args.append(query.withBare)
            if query.withResource is not None:
                where.append("with_resource = ?")
                args.append(query.withResource)
        if query.start is not None:
            where.append("stamp >= ?")
            args.append(query.start)
        if query.end is not None:
            where.append("stamp <= ?")
            args.append(query.end)
        if query.ids is not None:
            if not query.ids:
                where.append("1 = 0")
            else:
                where.append("stanza_id IN (%s)" % ", ".join("?" * len(query.ids)))
                args.extend(query.ids)
        return where, args

    def _query(self, transaction, query):
        where, args = self._filters(query)
        countWhere, countArgs = list(where), list(args)
        for stanzaId in query.afterIds:
            stamp, rowId = self._position(transaction, query.owner, stanzaId)
            # The leading "stamp >=" makes it an index range on both engines.
            where.append("stamp >= ? AND (stamp > ? OR id > ?)")
            args += [stamp, stamp, rowId]
        for stanzaId in query.beforeIds:
            stamp, rowId = self._position(transaction, query.owner, stanzaId)
            where.append("stamp <= ? AND (stamp < ? OR id < ?)")
            args += [stamp, stamp, rowId]
        direction = "DESC" if query.backward else "ASC"
        hint = ""
        if query.ids is None:
            hint = transaction.engine.useIndex(
                "mam_messages_owner_stamp" if query.withBare is None else "mam_messages_owner_with")
        rows = transaction.execute(
            "SELECT stanza_id, stamp, xml FROM mam_messages%s WHERE %s"
            " ORDER BY stamp %s, id %s LIMIT ?" % (hint, " AND ".join(where), direction, direction),
            args + [query.limit + 1]).fetchall()
        complete = len(rows) <= query.limit
        rows = [(r[0], int(r[1]), r[2]) for r in rows[:query.limit]]
        if query.backward:
            rows.reverse()
        count = None
        if query.count:
            count = int(transaction.execute(
                "SELECT COUNT(*) FROM mam_messages WHERE %s" % " AND ".join(countWhere),
                countArgs).fetchone()[0])
        return ArchivePage(rows, complete, count)

    def bounds(self, owner):
        """Fire ((first stanza_id, stamp), (last stanza_id, stamp)), or None if empty."""
        return self.database.runInteraction(self._bounds, owner)

    def _bounds(self, transaction, owner):
        ends = []
        for direction in ("ASC", "DESC"):
            row = transaction.execute(
                "SELECT stanza_id, stamp FROM mam_messages WHERE owner = ?"
                " ORDER BY stamp %s, id %s LIMIT 1" % (direction, direction),
                (owner,)).fetchone()
            if row is None:
                return None
            ends.append((row[0], int(row[1])))
        return tuple(ends)

    def count(self, owner):
        d = self.database.runQuery(
            "SELECT COUNT(*) FROM mam_messages WHERE owner = ?", (owner,))
        d.addCallback(lambda rows: int(rows[0][0]))
        return d

    # Deleting ------------------------------------------------------------------------
    #
    # An offline message waiting in the archive's queue (xmppd.mam.queue)
    # may refer to a row a purge deletes: in the same transaction, such a
    # queue row gets its copy back first -- the stored copy, delay and all,
    # as the queue would have handed it out -- and no longer refers to the
    # archive. The message then waits as long as the offline module's rules
    # say (its expiry, its own max_age) and is delivered as it would have
    # been, while the archive keeps its promise: the purged row is gone.

    def purge(self, owner):
        """Fire how many messages of ``owner``'s archive were deleted."""
        return self.database.runInteraction(self._purge, "owner = ?", (owner,))

    def purgeOlderThan(self, cutoff, owner=None):
        """Delete what was archived before ``cutoff`` (µs); fire how many."""
        if owner is None:
            return self.database.runInteraction(self._purge, "stamp < ?", (cutoff,))
        return self.database.runInteraction(
            self._purge, "owner = ? AND stamp < ?", (owner, cutoff))

    def _purge(self, transaction, where, args):
        _releaseQueued(transaction, where, args)
        transaction.execute("DELETE FROM mam_messages WHERE " + where, args)
        return transaction.rowcount

    # Preferences (XEP-0313 §6) --------------------------------------------------------

    def allPrefs(self):
        """Fire {owner: (default, always set, never set)} of every user who set any."""
        return self.database.runInteraction(self._allPrefs)

    def _allPrefs(self, transaction):
        prefs = {owner: (default, set(), set()) for owner, default in
                 transaction.execute("SELECT owner, default_mode FROM mam_prefs").fetchall()}
        for owner, jid, listName in transaction.execute(
                "SELECT owner, jid, list FROM mam_prefs_jids").fetchall():
            if owner in prefs:
                prefs[owner][1 if listName == "always" else 2].add(jid)
        return prefs

    def setPrefs(self, owner, default, always, never):
        return self.database.runInteraction(self._setPrefs, owner, default,
                                            sorted(always), sorted(never))

    def _setPrefs(self, transaction, owner, default, always, never):
        transaction.execute(transaction.engine.upsert("mam_prefs", ("owner",), ("default_mode",)),
                            (owner, default))
        transaction.execute("DELETE FROM mam_prefs_jids WHERE owner = ?", (owner,))
        rows = {}
        for listName, jids in (("always", always), ("never", never)):
            for jid in jids:
                # A JID in both lists is never archived (the safer reading).
                rows[_hash(jid)] = (owner, _hash(jid), jid, listName)
        if rows:
            transaction.executemany(
                "INSERT INTO mam_prefs_jids (owner, jid_hash, jid, list) VALUES (?, ?, ?, ?)",
                list(rows.values()))
