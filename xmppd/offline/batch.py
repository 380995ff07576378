"""
The offline store's inserts in batches: every message that queued while
the previous batch was being written goes in with the next one, in one
interaction -- the accounts checked in one statement, the recipients'
lock rows taken in one, the limits counted in one, then one INSERT per
message in arrival order -- so that a burst costs a few round trips and
one commit (one InnoDB log flush) per batch instead of four round trips
and a commit per message.

The limits stay exact (SPEC §4): the counts are read under the
recipients' locks, and each message is checked against them plus the rows
this batch accepted before it, exactly what it would have counted in a
transaction of its own behind them. A message that fails (a driver error on
its insert, which a statement undoes alone) fails alone; a batch that
InnoDB rolled back whole is run again whole by ``Database.runOrdered``.
One batch at a time, so the order of arrival is the order of the ids.
"""

from twisted.internet import defer

from xmppd.api import (
    NO_ACCOUNT, OverQuota, StorageError, exceededBytes, exceededLimit, existingAccounts,
    raiseOverQuota)

# Keeps each statement's list of placeholders well under every driver's limit.
BATCH_MAX = 200


class Pending:
    """One message waiting for its batch, and the Deferred its caller holds."""

    __slots__ = ("recipient", "sender", "xml", "storedAt", "expiresAt", "pairLimit",
                 "userLimit", "bytesLimit", "requireAccount", "done")

    def __init__(self, recipient, sender, xml, storedAt, expiresAt, pairLimit, userLimit,
                 bytesLimit, requireAccount):
        self.recipient = recipient
        self.sender = sender
        self.xml = xml
        self.storedAt = storedAt
        self.expiresAt = expiresAt
        self.pairLimit = pairLimit
        self.userLimit = userLimit
        self.bytesLimit = bytesLimit
        self.requireAccount = requireAccount
        self.done = defer.Deferred()

    @property
    def limited(self):
        return (self.pairLimit is not None or self.userLimit is not None
                or self.bytesLimit is not None)


class Batcher:
    """
    The queue of one store's pending inserts into ``table`` (its
    ``columns``, from a Pending by ``values``), whose recipients' lock rows
    are in ``lockTable``.
    """

    def __init__(self, database, table, columns, values, lockTable):
        self.database = database
        self.table = table
        self.values = values
        self.lockTable = lockTable
        self.rowPlaceholders = "(%s)" % ", ".join("?" * len(columns))
        self.insertOne = "INSERT INTO %s (%s) VALUES %s" % (
            table, ", ".join(columns), self.rowPlaceholders)
        self.insertMany = "INSERT INTO %s (%s) VALUES %%s" % (table, ", ".join(columns))
        self.insertRows = INSERT_PLACEHOLDERS // len(columns)
        self.waiting = []
        self.writing = False

    def add(self, pending):
        self.waiting.append(pending)
        if not self.writing:
            self._next()
        return pending.done

    def _next(self):
        if not self.waiting:
            self.writing = False
            return
        self.writing = True
        batch, self.waiting = self.waiting[:BATCH_MAX], self.waiting[BATCH_MAX:]
        d = self.database.runOrdered(self._write, batch)
        d.addCallbacks(self._written, self._failed, callbackArgs=(batch,),
                       errbackArgs=(batch,))

    def _written(self, outcomes, batch):
        # What queued meanwhile goes to the database before this batch's
        # outcomes run (they resume the senders held at their intake bound,
        # whose parsing goes on in this call): the database writes while
        # the reactor works. With nothing queued, what the outcomes bring
        # waits for them all, to go in one batch.
        following = bool(self.waiting)
        if following:
            self._next()
        for pending, outcome in zip(batch, outcomes):
            if isinstance(outcome, Exception):
                pending.done.errback(outcome)
                continue
            if type(outcome) is int:
                # A row's id: most outcomes, no refusal to raise.
                pending.done.callback(outcome)
                continue
            try:
                outcome = raiseOverQuota(outcome)
            except Exception as refused:
                pending.done.errback(refused)
            else:
                pending.done.callback(outcome)
        if not following:
            self._next()

    def _failed(self, failure, batch):
        for pending in batch:
            pending.done.errback(failure)
        self._next()

    # In the database's thread ------------------------------------------------------

    def _write(self, transaction, batch):
        engine = transaction.engine
        missing = _missingAccounts(transaction, batch)
        locked = sorted({p.recipient for p in batch
                         if p.limited and p.recipient not in missing})
        if locked:
            engine.lockKeys(transaction, self.lockTable, "recipient", locked)
        counts = _Counts(transaction, self.table,
                         [p for p in batch if p.limited and p.recipient not in missing])
        outcomes, accepted = [], []
        for index, pending in enumerate(batch):
            if pending.recipient in missing:
                outcomes.append(NO_ACCOUNT)
                continue
            over = counts.over(pending) if pending.limited else None
            if over is not None:
                outcomes.append(OverQuota(over))
                continue
            counts.accepted(pending)
            accepted.append(index)
            outcomes.append(None)
        for index, outcome in zip(accepted, self._insertAll(
                transaction, [batch[index] for index in accepted])):
            outcomes[index] = outcome
        return outcomes

    def _insertAll(self, transaction, rows):
        """
        The id of each row, or the StorageError of one that failed alone:
        in multi-row INSERTs where the engine hands out evenly spaced ids,
        row by row otherwise and for a multi-row INSERT that failed (which
        a statement undoes whole). A row refused by the database counts
        for the limits of the rows after it; it cannot take one's place.
        """
        engine = transaction.engine
        ids = []
        for chunk in _chunks(rows, self.insertRows):
            step = engine.idStep(transaction) if len(chunk) > 1 else None
            if step is not None:
                try:
                    transaction.execute(
                        self.insertMany % ", ".join([self.rowPlaceholders] * len(chunk)),
                        [value for p in chunk for value in self.values(p)])
                    first = engine.firstInsertedId(transaction, len(chunk))
                except engine.driverErrors as error:
                    if engine.isTransient(error) or engine.isConnectionLost(error):
                        raise
                else:
                    ids += [first + i * step for i in range(len(chunk))]
                    continue
            for pending in chunk:
                try:
                    ids.append(engine.insertReturningId(
                        transaction, self.insertOne, self.values(pending)))
                except engine.driverErrors as error:
                    if engine.isTransient(error) or engine.isConnectionLost(error):
                        raise
                    failed = StorageError("%s: %s" % (self.database.backend, error))
                    failed.__cause__ = error
                    ids.append(failed)
        return ids


# The bytes of stored copies one multi-row INSERT carries at most: far below
# MariaDB's max_allowed_packet (16 MiB by default).
INSERT_BYTES = 1 << 20
# Its placeholders at most: SQLite before 3.32 takes no more than 999.
INSERT_PLACEHOLDERS = 999


def _chunks(rows, maxRows):
    chunk, size = [], 0
    for pending in rows:
        length = len(pending.xml)
        if chunk and (size + length > INSERT_BYTES or len(chunk) == maxRows):
            yield chunk
            chunk, size = [], 0
        chunk.append(pending)
        size += length
    if chunk:
        yield chunk


def _missingAccounts(transaction, batch):
    """The recipients whose store requires an account that does not exist (locking read)."""
    wanted = {p.recipient for p in batch if p.requireAccount}
    if not wanted:
        return set()
    return wanted - existingAccounts(transaction, wanted)


# How far one recipient's rows are counted to spare the counts of its pairs:
# a long queue costs no more than this to find that they are needed after all.
RECIPIENT_COUNT_MAX = 2000


class _Counts:
    """
    The rows each limit of the batch counts, read once under the locks
    (each count stopped at its limit, as the one-message check does), and
    what the batch added since.

    A pair never has more rows than its recipient: when a recipient's rows
    plus all the batch brings it stay within the smallest pair limit of
    its messages, none of its pairs can pass one, and their counts (one per
    pair, most of a batch to many recipients) are not read at all. Only
    the recipients without that room have their pairs counted, in a second
    statement.
    """

    def __init__(self, transaction, table, limited):
        self.pairs, self.users, self.bytes = {}, {}, {}
        # What one accepted row adds to: (recipient, sender) -> pair keys,
        # recipient -> user keys.
        self.pairKeys, self.userKeys = {}, {}
        # The recipients whose pairs cannot reach their limits in this batch.
        self.roomy = set()
        # recipient -> [messages in the batch, largest user limit, smallest pair limit]
        plans = {}
        # The recipients whose bytes are summed, in order (the row's columns).
        bytesWanted = {}
        for p in limited:
            plan = plans.get(p.recipient)
            if plan is None:
                plan = plans[p.recipient] = [0, 0, None]
            plan[0] += 1
            if p.userLimit is not None and p.userLimit > plan[1]:
                plan[1] = p.userLimit
            if p.pairLimit is not None and p.pairLimit > 0 and (
                    plan[2] is None or p.pairLimit < plan[2]):
                plan[2] = p.pairLimit
            if p.bytesLimit is not None:
                bytesWanted[p.recipient] = True
        parts, args, reads = [], [], []
        for recipient, (messages, userBound, smallestPair) in plans.items():
            # Counted up to the largest user limit (every smaller one reads
            # the same count, stopped at itself) or, for the pairs, up to
            # one row past the room the batch needs.
            pairBound = 0 if smallestPair is None else min(
                smallestPair - messages + 1, RECIPIENT_COUNT_MAX)
            bound = max(userBound, pairBound)
            if bound > 0:
                parts.append("SELECT COUNT(*) FROM (SELECT 1 FROM %s WHERE recipient = ?"
                             " LIMIT ?) AS rows_%d" % (table, len(parts)))
                args += [recipient, bound]
                reads.append((recipient, pairBound))
        for recipient in bytesWanted:
            self.bytes[recipient] = 0
            parts.append("SELECT COALESCE(SUM(%s), 0) FROM %s WHERE recipient = ?"
                         % (transaction.engine.octetLength("xml"), table))
            args.append(recipient)
        rows = {}
        if parts:
            row = transaction.execute(
                "SELECT " + ", ".join("(%s)" % part for part in parts), args).fetchone()
            for (recipient, pairBound), value in zip(reads, row):
                rows[recipient] = value = int(value)
                if value < pairBound:
                    self.roomy.add(recipient)
            for recipient, value in zip(bytesWanted, row[len(reads):]):
                self.bytes[recipient] = int(value)
        parts, args, keys = [], [], []
        for p in limited:
            if p.pairLimit is not None and p.pairLimit > 0 and p.recipient not in self.roomy \
                    and (p.recipient, p.sender, p.pairLimit) not in self.pairs:
                self.pairs[(p.recipient, p.sender, p.pairLimit)] = 0
                self.pairKeys.setdefault((p.recipient, p.sender), []).append(
                    (p.recipient, p.sender, p.pairLimit))
                parts.append("SELECT COUNT(*) FROM (SELECT 1 FROM %s WHERE recipient = ?"
                             " AND sender = ? LIMIT ?) AS rows_%d" % (table, len(parts)))
                args += [p.recipient, p.sender, p.pairLimit]
                keys.append((p.recipient, p.sender, p.pairLimit))
            if p.userLimit is not None and p.userLimit > 0 \
                    and (p.recipient, p.userLimit) not in self.users:
                self.users[(p.recipient, p.userLimit)] = min(rows[p.recipient], p.userLimit)
                self.userKeys.setdefault(p.recipient, []).append((p.recipient, p.userLimit))
        if parts:
            row = transaction.execute(
                "SELECT " + ", ".join("(%s)" % part for part in parts), args).fetchone()
            for key, value in zip(keys, row):
                self.pairs[key] = int(value)

    def over(self, p):
        """The limit this message would pass, given the rows accepted before it."""
        if (p.pairLimit is not None and p.pairLimit <= 0) or (
                p.userLimit is not None and p.userLimit <= 0):
            return exceededLimit(p.pairLimit, p.userLimit, 0, 0)
        pairLimit = None if p.recipient in self.roomy else p.pairLimit
        pairCount = self.pairs.get((p.recipient, p.sender, p.pairLimit), 0)
        userCount = self.users.get((p.recipient, p.userLimit), 0)
        over = exceededLimit(pairLimit, p.userLimit, pairCount, userCount)
        if over is None and p.bytesLimit is not None:
            over = exceededBytes(p.bytesLimit, self.bytes.get(p.recipient, 0), _size(p.xml))
        return over

    def accepted(self, p):
        """One more row for every count this message's recipient and sender share."""
        for key in self.pairKeys.get((p.recipient, p.sender), ()):
            self.pairs[key] += 1
        for key in self.userKeys.get(p.recipient, ()):
            self.users[key] += 1
        if p.recipient in self.bytes:
            self.bytes[p.recipient] += _size(p.xml)


def _size(xml):
    return len(xml.encode("utf-8"))
