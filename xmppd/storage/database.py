"""
The connection pool that every store shares, and the one place where driver
errors become ``StorageError``.
"""

import random

from twisted.application import service
from twisted.enterprise import adbapi
from twisted.internet import defer, task
from twisted.python import failure, log
from zope.interface import implementer

from xmppd.storage import migrations
from xmppd.storage.engines import createEngine
from xmppd.storage.interfaces import IDatabase, StorageError

# A deadlock victim is rolled back whole, so running it again is safe; past a
# handful of attempts the contention is not going to clear by itself.
TRANSIENT_ATTEMPTS = 5
# Most interactions that one group commit on SQLite carries (see _GroupCommit).
GROUP_COMMIT_MAX = 256


class Transaction:
    """
    What a store's interaction function receives: a cursor that takes the
    portable ``?`` placeholders and counts the statements that succeeded.
    """

    def __init__(self, engine, cursor):
        self.engine = engine
        self.cursor = cursor
        self.statementsDone = 0

    def execute(self, sql, args=()):
        self.cursor.execute(self.engine.formatSql(sql), tuple(args))
        self.statementsDone += 1
        return self

    def executemany(self, sql, argsList):
        self.cursor.executemany(self.engine.formatSql(sql), [tuple(a) for a in argsList])
        self.statementsDone += 1
        return self

    def fetchone(self):
        return self.cursor.fetchone()

    def fetchall(self):
        return [tuple(row) for row in self.cursor.fetchall()]

    @property
    def rowcount(self):
        return self.cursor.rowcount

    @property
    def lastrowid(self):
        return self.cursor.lastrowid


@implementer(IDatabase)
class Database(service.Service):
    """
    One backend's connection pool and dialect.

    ``Database("sqlite", path=FILE)`` or ``Database("mysql", host=, port=,
    user=, password=, database=, unix_socket=None, pool_size=5)``, or
    ``Database("memory")``: an SQLite database in memory, for the feature
    stores that have no pure-Python implementation when ``[storage]
    backend = "memory"``. As a service it opens in ``startService``
    (``self.ready`` fires once the schema is up to date) so that it can hang
    in the server's MultiService.

    ``schema``: the packages whose deltas (``<package>/schema/<dialect>/``)
    are applied at start besides the core's; ``addSchema`` adds more before
    the start, or before the next ``applySchema``.
    """

    name = "database"
    ready = None

    def __init__(self, backend, schema=(), **options):
        if backend == "memory":
            self.engine = createEngine("sqlite", path=":memory:")
        else:
            self.engine = createEngine(backend, **options)
        # "memory" tells the stores to keep their rows in Python objects;
        # the engine (the dialect of the deltas) stays "sqlite".
        self.backend = backend if backend == "memory" else self.engine.name
        self.schemaPackages = []
        self.addSchema(*schema)
        self.pool = None
        self._beforeStop = []

    def __repr__(self):
        return "<Database %s>" % (self.backend,)

    def start(self):
        if self.pool is None:
            self.pool = self.engine.makePool()
            self.pool.start()
            self._group = _GroupCommit(self) if self.engine.poolSize == 1 else None
            # A pool of several connections commits in no particular order;
            # the interactions that need their order (and gain from sharing
            # a commit) queue for one connection at a time.
            self._ordered = self._group or _GroupCommit(self)
        return self.applySchema()

    @property
    def isOpen(self):
        """Whether the pool is open (between ``start`` and ``stop``)."""
        return self.pool is not None

    def beforeStop(self, write):
        """
        Call ``write()`` (a Deferred) when the database is about to stop,
        and close the pool only once it fired: a store that writes behind
        (xmppd.lastactivity) writes what it holds.
        """
        self._beforeStop.append(write)

    def stop(self):
        if self.pool is None or not self._beforeStop:
            return self._close()
        writes = [defer.maybeDeferred(write) for write in self._beforeStop]
        d = defer.DeferredList(writes, consumeErrors=True)
        d.addCallback(self._logFailedWrites)
        d.addCallback(lambda _: self._close())
        return d

    def _logFailedWrites(self, results):
        for ok, result in results:
            if not ok:
                log.err(result, "a write before the database stopped failed")

    def _close(self):
        pool, self.pool = self.pool, None
        if pool is not None:
            pool.close()
        return defer.succeed(None)

    def startService(self):
        service.Service.startService(self)
        self.ready = self.start()

    def stopService(self):
        service.Service.stopService(self)
        return self.stop()

    def addSchema(self, *packages):
        """Apply the deltas of these packages too (see xmppd.storage.migrations)."""
        for package in packages:
            if package not in self.schemaPackages:
                self.schemaPackages.append(package)

    def applySchema(self, deltas=None):
        """
        Apply the deltas not yet recorded in ``schema_version`` and fire the
        names of those applied (``feature/NNNN_what.sql``); by default the
        core's and those of ``schemaPackages``, in this engine's dialect.
        """
        if deltas is None:
            deltas = migrations.deltasFor(self.engine.name, self.schemaPackages)
        return self.runInteraction(migrations.applyDeltas, deltas)

    def recordedFeatures(self):
        """Fire the set of features whose deltas this database records."""
        return self.runInteraction(migrations.recordedFeatures)

    def runInteraction(self, interaction, *args, **kw):
        """
        Run ``interaction(transaction, *args, **kw)`` in a pool thread inside
        one transaction, committed if it returns and rolled back if it
        raises.

        A deadlock victim is run again. So is an interaction whose very first
        statement found its pooled connection dead -- the server was
        restarted while the connection sat idle, nothing of the transaction
        reached the server, and adbapi has already dropped the connection so
        that the retry opens a new one. Any other driver error fails the
        Deferred with StorageError, the driver's exception as its cause.
        """
        group = getattr(self, "_group", None)
        if group is not None and self.pool is not None:
            return group.run(interaction, args, kw)
        return defer.ensureDeferred(self._runInteraction(interaction, args, kw))

    def runOrdered(self, interaction, *args, **kw):
        """
        As ``runInteraction``, and every interaction asked this way commits
        in the order asked, those that queue behind a running one sharing
        its successor's transaction (each in its own SAVEPOINT, failing
        alone): a write that must not overtake the one before it, such as a
        stored message behind the previous one for the same recipient,
        while one commit (one InnoDB log flush) covers many.
        """
        group = getattr(self, "_ordered", None)
        if group is not None and self.pool is not None:
            return group.run(interaction, args, kw)
        return self.runInteraction(interaction, *args, **kw)

    async def _runInteraction(self, interaction, args, kw):
        attempt = 0
        staleConnections = 0
        while True:
            attempt += 1
            if self.pool is None:
                raise StorageError("the %s database is not running" % (self.backend,))
            opened = []
            try:
                return await self.pool.runInteraction(
                    self._interact, opened, interaction, args, kw)
            except self.engine.driverErrors + (adbapi.ConnectionLost,) as error:
                statementsDone = opened[0].statementsDone if opened else 0
                if self.engine.isTransient(error) and attempt < TRANSIENT_ATTEMPTS:
                    # A little jitter keeps the retries of one burst apart.
                    from twisted.internet import reactor
                    await task.deferLater(reactor, random.uniform(0, 0.01 * attempt))
                    continue
                # The retry may land on another idle connection that is just
                # as stale; each such failure replaces one, so the pool size
                # bounds them.
                if (self.engine.isConnectionLost(error) and statementsDone == 0
                        and staleConnections < self.engine.poolSize):
                    staleConnections += 1
                    continue
                raise StorageError("%s: %s" % (self.backend, error)) from error

    def _interact(self, cursor, opened, interaction, args, kw):
        transaction = Transaction(self.engine, cursor)
        opened.append(transaction)
        self.engine.beginTransaction(cursor)
        return interaction(transaction, *args, **kw)

    def runQuery(self, sql, args=()):
        """Fire the rows of one query, as tuples."""
        return self.runInteraction(_query, sql, args)

    def runOperation(self, sql, args=()):
        """Fire the number of rows one statement changed."""
        return self.runInteraction(_operation, sql, args)


class _GroupCommit:
    """
    Group commit for a one-connection pool (SQLite), and for the ordered
    interactions on a pool of several (``Database.runOrdered``, MariaDB).

    That one connection runs every interaction one after the other anyway;
    paying a thread hop, a ``BEGIN IMMEDIATE`` and a commit for each is
    what limited the offline store benchmark. Interactions that arrive
    while a transaction is running wait, and then run together in the next
    one, in arrival order, each inside its own ``SAVEPOINT``: one that
    raises is rolled back to its savepoint alone and fails alone, exactly
    as it would have in a transaction of its own, and the others commit.
    Every Deferred fires only after the commit that made its work durable,
    and a failed commit fails them all, so nobody hears "stored" of a row
    that was not. A lone interaction runs as before, one transaction.

    On MariaDB a batch that InnoDB rolled back whole -- a deadlock victim,
    a lock wait timeout, a connection found dead before any statement of
    the batch ran -- is run again whole, as ``Database.runInteraction``
    does for one interaction: one batch at a time, so that the order holds
    across the retry.
    """

    def __init__(self, database):
        self.database = database
        self.pending = []
        self.running = False

    def run(self, interaction, args, kw):
        d = defer.Deferred()
        self.pending.append((interaction, args, kw, d))
        if not self.running:
            self._next()
        return d

    def _next(self):
        database = self.database
        if not self.pending:
            self.running = False
            return
        if database.pool is None:
            batch, self.pending = self.pending, []
            for _i, _a, _k, d in batch:
                d.errback(StorageError("the %s database is not running" % (database.backend,)))
            self.running = False
            return
        self.running = True
        batch, self.pending = self.pending[:GROUP_COMMIT_MAX], self.pending[GROUP_COMMIT_MAX:]
        self._attempt(batch, 1, 0)

    def _attempt(self, batch, attempt, staleConnections):
        pool = self.database.pool
        if pool is None:
            return self._failed(failure.Failure(StorageError(
                "the %s database is not running" % (self.database.backend,))), batch)
        started = []
        d = pool.runInteraction(self._interactAll, batch, started)
        d.addCallbacks(self._done, self._retryOrFail, callbackArgs=(batch,),
                       errbackArgs=(batch, attempt, staleConnections, started))

    def _retryOrFail(self, reason, batch, attempt, staleConnections, started):
        engine = self.database.engine
        error = reason.value
        if isinstance(error, _Failed):
            error = error.error
        if isinstance(error, engine.driverErrors + (adbapi.ConnectionLost,)):
            if engine.isTransient(error) and attempt < TRANSIENT_ATTEMPTS:
                from twisted.internet import reactor
                reactor.callLater(random.uniform(0, 0.01 * attempt), self._attempt,
                                  batch, attempt + 1, staleConnections)
                return None
            if (engine.isConnectionLost(error) and not started
                    and staleConnections < engine.poolSize):
                return self._attempt(batch, attempt, staleConnections + 1)
        return self._failed(reason, batch)

    def _interactAll(self, cursor, batch, started):
        engine = self.database.engine
        engine.beginTransaction(cursor)
        if len(batch) == 1:
            interaction, args, kw, _d = batch[0]
            transaction = Transaction(engine, cursor)
            try:
                result = interaction(transaction, *args, **kw)
            except Exception as error:
                if transaction.statementsDone:
                    started.append(True)
                # adbapi rolls the whole (one-interaction) transaction back.
                raise _Failed(error)
            # A commit that fails from here on may have reached the server.
            started.append(True)
            return [(True, result)]
        outcomes = []
        for interaction, args, kw, _d in batch:
            cursor.execute("SAVEPOINT interaction")
            started.append(True)
            try:
                result = interaction(Transaction(engine, cursor), *args, **kw)
            except Exception as error:
                if self._abortsTransaction(error):
                    # InnoDB rolled the whole transaction back: the batch
                    # runs again, or fails, whole.
                    raise _Failed(error)
                cursor.execute("ROLLBACK TO SAVEPOINT interaction")
                cursor.execute("RELEASE SAVEPOINT interaction")
                outcomes.append((False, error))
            else:
                cursor.execute("RELEASE SAVEPOINT interaction")
                outcomes.append((True, result))
        return outcomes

    def _abortsTransaction(self, error):
        engine = self.database.engine
        return isinstance(error, engine.driverErrors) and (
            engine.isTransient(error) or engine.isConnectionLost(error))

    def _done(self, outcomes, batch):
        # The next transaction starts before these callbacks run, and what
        # they ask starts at once if nothing else is: the connection works
        # while the reactor runs them (a stored batch's callbacks parse the
        # next messages of the senders they resume).
        self._next()
        for (ok, value), (_i, _a, _k, d) in zip(outcomes, batch):
            if ok:
                d.callback(value)
            else:
                d.errback(self._wrap(value))

    def _failed(self, failure, batch):
        error = failure.value
        if isinstance(error, _Failed):
            error = error.error
        wrapped = self._wrap(error)
        self._next()
        for _i, _a, _k, d in batch:
            d.errback(wrapped)

    def _wrap(self, error):
        database = self.database
        if isinstance(error, database.engine.driverErrors + (adbapi.ConnectionLost,)):
            wrapped = StorageError("%s: %s" % (database.backend, error))
            wrapped.__cause__ = error
            return wrapped
        return error


class _Failed(Exception):
    """Carries a lone interaction's own exception through adbapi's rollback."""

    def __init__(self, error):
        Exception.__init__(self, error)
        self.error = error


def _query(transaction, sql, args):
    return transaction.execute(sql, args).fetchall()


def _operation(transaction, sql, args):
    return transaction.execute(sql, args).rowcount
