"""
The storage interfaces: what the rest of the server may ask of a database.

The core's stores (users, settings, rosters), the engine contract and the
errors every store may raise are here; a feature's store states its own
interface beside it (``xmppd.offline.store.IOfflineStore``,
``xmppd.pep.store.IPepStore``, …). Every store method returns a Deferred.
JIDs are passed as bare-JID strings (``user@host``), already normalised
(stringprep) by the caller, so that storage never parses XMPP addresses.
"""

from zope.interface import Attribute, Interface


class StorageError(Exception):
    """The database could not do what was asked (down, constraint, timeout)."""


class UserExists(StorageError):
    """An account with this JID already exists."""


class UnknownUser(StorageError):
    """No account with this JID exists."""


class QuotaExceeded(Exception):
    """
    Storing one more offline message would pass a limit.

    ``limit`` names which one (``"pair"``, ``"user"`` or ``"bytes"``) so that
    the caller can count it in metrics; the decision itself was atomic with
    the insert.
    """

    def __init__(self, limit):
        Exception.__init__(self, limit)
        self.limit = limit


class RosterFull(Exception):
    """Adding one more item would pass the roster size limit."""


class IEngine(Interface):
    """
    One SQL dialect and its driver (after Synapse's
    ``storage/engines/_base.py``): everything the stores would otherwise
    write twice. The stores write portable SQL with ``?`` placeholders and
    ask the engine for the rest; ``xmppd.storage.engines`` has SQLite's and
    MySQL/MariaDB's.
    """

    name = Attribute("The dialect: 'sqlite' or 'mysql'; it names the schema/<dialect>/"
                     " directory of every feature's deltas.")
    poolSize = Attribute("Connections in the pool (1: the database has one writer).")
    driverErrors = Attribute("The tuple of the driver's exception classes.")

    def makePool():
        """A new, unstarted ``adbapi.ConnectionPool`` for this database."""

    def formatSql(sql):
        """``sql`` with the portable ``?`` placeholders in the driver's paramstyle."""

    def beginTransaction(cursor):
        """Open a transaction on a pooled connection that takes its write locks
        as the dialect needs (SQLite: ``BEGIN IMMEDIATE``)."""

    def upsert(table, keyColumns, valueColumns):
        """SQL inserting a row or replacing the value columns of the row with
        the same key; its placeholders are the key columns', then the values'."""

    def insertReturningId(transaction, sql, args):
        """Run one INSERT into a table with an auto-increment ``id`` and return
        the new row's id (never one handed out before)."""

    def forUpdate():
        """The suffix that makes a SELECT lock the rows it reads ('' where the
        transaction already holds the database's lock)."""

    def idStep(transaction):
        """The step between the ids one multi-row INSERT hands out in row
        order, or None where they may not be evenly spaced: insert row by
        row then."""

    def firstInsertedId(transaction, count):
        """The id of the first of the ``count`` rows the multi-row INSERT
        just run handed out (the drivers' lastrowid is the first row's on
        MySQL, the last row's on SQLite)."""

    def forShare():
        """The suffix that makes a SELECT take a shared lock on the rows it
        reads, so that they cannot be deleted before this transaction ends
        ('' where the transaction already holds the database's lock)."""

    def lockKey(transaction, table, column, value):
        """Lock the row ``value`` of a one-column lock table, creating it:
        what serialises a check and the write after it per key."""

    def lockKeys(transaction, table, column, values):
        """lockKey for each of the sorted ``values``, in one statement."""

    def octetLength(column):
        """SQL for the length in bytes of a text column."""

    def useIndex(index):
        """An index hint for a FROM clause, or '' where the planner needs none."""

    def isDuplicateKey(error):
        """Whether a driver error is a unique-key violation."""

    def isTransient(error):
        """Whether the transaction was rolled back whole (deadlock, lock wait)
        and may simply be run again."""

    def isConnectionLost(error):
        """Whether the connection died under the statement (a restart)."""

    def acquireSchemaLock(cursor):
        """Keep other processes from applying schema deltas until released,
        even across the implicit commits of DDL statements."""

    def releaseSchemaLock(cursor):
        """Release what ``acquireSchemaLock`` took."""

    def listTables(cursor):
        """The sorted names of this database's tables, the dialect's own aside."""


class IDatabase(Interface):
    engine = Attribute("The dialect object (IEngine): its ``name`` is 'sqlite' or 'mysql'.")
    backend = Attribute(
        "'sqlite', 'mysql', or 'memory': an SQLite database in memory, under which"
        " stores with a pure-Python implementation keep their rows in Python.")

    def addSchema(*packages):
        """Apply these packages' ``schema/<dialect>/NNNN_*.sql`` too, at the next start."""

    def start():
        """Open the pool and apply every schema delta not applied yet: the
        core's and those of the packages added."""

    def applySchema(deltas=None):
        """Apply the deltas not recorded yet (of the packages added, by
        default); fire their names."""

    isOpen = Attribute("Whether the pool is open (between ``start`` and ``stop``).")

    def beforeStop(write):
        """Call ``write()`` (may return a Deferred) before ``stop`` closes the pool."""

    def stop():
        """Close the pool."""

    def runInteraction(interaction, *args, **kw):
        """
        Run ``interaction(transaction, *args, **kw)`` in a pool thread as one
        transaction and fire its result. ``transaction.execute(sql, args)``
        takes ``?`` placeholders on every backend. A driver error fails with
        StorageError (the driver's exception as ``__cause__``).
        """

    def runQuery(sql, args=()):
        """Fire the rows of one query as tuples."""

    def runOperation(sql, args=()):
        """Fire the number of rows one statement changed."""


class IAccountRows(Interface):
    """
    What a store that holds rows of accounts offers the registry, which
    calls it for every store when an account is deleted (see
    ``xmppd.storage.registry``).
    """

    def deleteAccount(transaction, bareJID):
        """
        Delete the account's rows. A store on the SQL database runs inside
        ``transaction`` (an interaction, in a pool thread), the one that
        also deletes the ``users`` row; a memory store is called with None,
        in the reactor thread.
        """


class IUserStore(IAccountRows):
    """
    Accounts and their SCRAM keys, ready: ``keys`` is ``{"sha1": (salt,
    iterations, storedKey, serverKey), "sha256": (...)}`` as the auth layer
    derived them (``xmppd.accounts``); no password ever reaches a store.
    """

    def create(jid, keys):
        """Create an account with these keys. Fails UserExists."""

    def setKeys(jid, keys):
        """Replace the keys. Fails UnknownUser."""

    def deleteAccount(transaction, jid):
        """Delete the ``users`` row; fail UnknownUser when there is none,
        which rolls the whole deletion back."""

    def exists(jid):
        """Fire True if the account exists."""

    def getKeys(jid, hashName):
        """
        Fire ``(salt, iterations, storedKey, serverKey)`` for ``hashName``
        ('sha1' or 'sha256'), or None when the account does not exist.
        """

    def count(host):
        """Fire how many accounts ``host`` has."""

    def listUsers(host=None):
        """Fire the sorted list of bare JIDs, optionally of one host (exactly)."""


class ISettingsStore(IAccountRows):
    """A per-user key/value store, like Tigase's ``tig_pairs`` (node, key)."""

    def get(jid, node, key):
        """Fire the string value, or None."""

    def set(jid, node, key, value):
        """Insert or replace the value."""

    def delete(jid, node, key):
        """Remove the value if present."""


class IRosterStore(IAccountRows):
    """
    Rosters (RFC 6121 §2), pending inbound subscription requests (§3.1.3)
    and XEP-0237 roster versions. Items are ``xmppd.storage.roster.RosterRow``,
    the state of one contact a ``RosterState`` (item or None, pending-in XML
    or None).
    """

    def getRoster(owner):
        """Fire ``(version, [RosterRow])`` in contact order; version 0 when new."""

    def getVersion(owner):
        """Fire the roster version, an integer bumped by every item change."""

    def getState(owner, contact):
        """Fire the RosterState of one contact."""

    def transition(owner, contact, change, maxItems=None):
        """
        Atomically replace the contact's state by ``change(oldState)`` (a pure
        function, run in the transaction) and fire ``(old, new, version)``.
        A changed item bumps the version; a new item past ``maxItems`` fails
        with RosterFull and changes nothing.
        """

    def subscribedTo(contact):
        """Fire the set of owners whose roster gives ``contact`` a
        subscription to their presence (``from`` or ``both``)."""

    def pendingRequests(owner):
        """Fire ``[(contact, xml)]``: the requests waiting for an answer."""

    def initialPresenceView(owner):
        """
        Fire ``(version, rows, requests, agreeing)`` at once: ``getRoster``,
        ``pendingRequests``, and ``subscribedTo(owner)`` when a row has a
        ``to`` subscription (None otherwise) -- what a login's roster get and
        initial presence need, in one database interaction instead of four.
        """


class PrivateStorageFull(Exception):
    """Storing one more namespace would pass the per-account limit."""


class NodeExists(StorageError):
    """A pubsub node of that name already exists."""


class NoSuchNode(StorageError):
    """No pubsub node of that name exists."""


class TooManyNodes(Exception):
    """Creating one more node would pass the account's node limit."""


