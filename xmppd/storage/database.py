"""
The connection pool that every store shares, and the one place where driver
errors become ``StorageError``.
"""

import random

from twisted.application import service
from twisted.enterprise import adbapi
from twisted.internet import defer, task
from zope.interface import implementer

from xmppd.storage import migrations
from xmppd.storage.engines import createEngine
from xmppd.storage.interfaces import IDatabase, StorageError

# A deadlock victim is rolled back whole, so running it again is safe; past a
# handful of attempts the contention is not going to clear by itself.
TRANSIENT_ATTEMPTS = 5


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
    user=, password=, database=, unix_socket=None, pool_size=5)``. As a
    service it opens in ``startService`` (``self.ready`` fires once the
    schema is up to date) so that it can hang in the server's MultiService.
    """

    name = "database"
    ready = None

    def __init__(self, backend, **options):
        self.engine = createEngine(backend, **options)
        self.backend = self.engine.name
        self.pool = None

    def __repr__(self):
        return "<Database %s>" % (self.backend,)

    def start(self):
        if self.pool is None:
            self.pool = self.engine.makePool()
            self.pool.start()
        return self.applySchema()

    def stop(self):
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

    def applySchema(self, deltas=None):
        """
        Apply the deltas not yet recorded in ``schema_version`` and fire the
        names of those applied; by default this backend's packaged deltas.
        """
        if deltas is None:
            deltas = migrations.findDeltas(self.backend)
        return self.runInteraction(migrations.applyDeltas, deltas)

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
        return defer.ensureDeferred(self._runInteraction(interaction, args, kw))

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


def _query(transaction, sql, args):
    return transaction.execute(sql, args).fetchall()


def _operation(transaction, sql, args):
    return transaction.execute(sql, args).rowcount
