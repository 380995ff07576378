"""
The storage interfaces: what the rest of the server may ask of a database.

Everything above ``xmppd/storage`` talks to these interfaces only; SQL and
its dialects stay below them. Every method returns a Deferred. JIDs are
passed as bare-JID strings (``user@host``), already normalised (stringprep)
by the caller, so that storage never parses XMPP addresses.
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

    ``limit`` names which one (``"pair"`` or ``"user"``) so that the caller
    can count it in metrics; the decision itself was atomic with the insert.
    """

    def __init__(self, limit):
        Exception.__init__(self, limit)
        self.limit = limit


class RosterFull(Exception):
    """Adding one more item would pass the roster size limit."""


class IDatabase(Interface):
    engine = Attribute("The dialect object: its ``name`` is 'sqlite' or 'mysql'.")

    def start():
        """Open the pool and apply every schema delta not applied yet."""

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


class IUserStore(Interface):
    def create(jid, password):
        """Create an account; only SCRAM keys are stored. Fails UserExists."""

    def setPassword(jid, password):
        """Replace the SCRAM keys. Fails UnknownUser."""

    def delete(jid):
        """Delete the account and everything stored for it. Fails UnknownUser."""

    def exists(jid):
        """Fire True if the account exists."""

    def getScramCredentials(jid, hashName):
        """
        Fire the ``xmppd.scram.ScramCredentials`` for ``hashName`` ('sha1' or
        'sha256'), or None when the account does not exist.
        """

    def listUsers(host=None):
        """Fire the sorted list of bare JIDs, optionally of one host."""


class ISettingsStore(Interface):
    """A per-user key/value store, like Tigase's ``tig_pairs`` (node, key)."""

    def get(jid, node, key):
        """Fire the string value, or None."""

    def set(jid, node, key, value):
        """Insert or replace the value."""

    def delete(jid, node, key):
        """Remove the value if present."""


class IOfflineStore(Interface):
    """The offline message queue of every local account, in arrival order."""

    def store(recipient, sender, xml, storedAt, expiresAt=None,
              pairLimit=None, userLimit=None, userBytesLimit=None):
        """
        Append one stanza to ``recipient``'s queue and fire its id.

        ``storedAt``/``expiresAt`` are microseconds since the epoch (UTC).
        ``pairLimit`` caps the rows from ``sender`` to ``recipient``,
        ``userLimit`` the recipient's whole queue; None means no cap. The
        count and the insert are atomic: concurrent stores never overshoot.
        A limit of 0 stores nothing. Rows expired but not yet purged still
        count. Fails with QuotaExceeded, naming "pair" when both are reached.
        ``userBytesLimit`` caps the bytes of the recipient's whole queue
        (QuotaExceeded "bytes"), checked in the same transaction.
        """

    def fetch(recipient, afterId=0, limit=100, now=None):
        """
        Fire up to ``limit`` rows ``(id, sender, xml)`` with id > afterId, in
        id order, leaving out those expired at ``now`` (µs; None means the
        current time), i.e. with expiresAt <= now. Nothing is deleted: the
        caller deletes by id once the stanzas were sent.
        """

    def delete(ids):
        """Delete exactly these rows; fire how many existed."""

    def count(recipient):
        """Fire the number of stored rows for ``recipient``."""

    def listMessages(recipient):
        """Fire all rows ``(id, sender, storedAt, expiresAt, xml)`` in order."""

    def purge(recipient):
        """Delete every row of ``recipient``; fire how many."""

    def purgeExpired(now):
        """Delete rows whose expiresAt <= now; fire the deleted rows
        ``(id, recipient, sender, xml)`` so that AMP can tell senders."""

    def purgeOlderThan(cutoff):
        """Delete rows stored before ``cutoff`` (µs); fire how many."""


class IRosterStore(Interface):
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


class PrivateStorageFull(Exception):
    """Storing one more namespace would pass the per-account limit."""


class ILastActivityStore(Interface):
    """XEP-0012: each account's last logout."""

    def get(jid):
        """Fire ``(logoutAt, status)`` (Unix seconds, text), or None."""

    def set(jid, logoutAt, status=""):
        """Record the account's last logout, replacing the previous one."""


class IPrivateXMLStore(Interface):
    """XEP-0049: one XML element per account and namespace."""

    def get(owner, namespace):
        """Fire the element's XML, or None."""

    def set(owner, namespace, xml, maxNamespaces=None):
        """Store or replace; a new namespace past ``maxNamespaces`` fails
        with PrivateStorageFull."""

    def namespaces(owner):
        """Fire the sorted namespaces stored for ``owner``."""


class IVCardStore(Interface):
    """XEP-0054: an account's vCard and its photo's hash (XEP-0153)."""

    def get(owner):
        """Fire ``(xml, photoHash)``, or None."""

    def set(owner, xml, photoHash=""):
        """Store or replace the vCard."""

    def delete(owner):
        """Remove the vCard if any."""
class NodeExists(StorageError):
    """A pubsub node of that name already exists."""


class NoSuchNode(StorageError):
    """No pubsub node of that name exists."""


class TooManyNodes(Exception):
    """Creating one more node would pass the account's node limit."""


class IPepStore(Interface):
    """
    Each account's PEP nodes (XEP-0163). ``owner`` is the account's bare
    JID; a node's ``config`` is a JSON-able dict that only the pep module
    interprets; items are ``(itemId, payloadXML)`` pairs, oldest first.
    """

    def getNode(owner, node):
        """Fire the node's config, or None when there is no such node."""

    def nodes(owner):
        """Fire ``[(node, config)]`` of every node of the account, by name."""

    def createNode(owner, node, config, maxNodes):
        """Create an empty node; NodeExists, or TooManyNodes at ``maxNodes``."""

    def configureNode(owner, node, config, keep):
        """Replace the config, keep the ``keep`` newest items; fire the ids dropped."""

    def deleteNode(owner, node):
        """Delete the node with its items, affiliations and subscriptions."""

    def publish(owner, node, itemId, payload, publisher, decide, maxNodes):
        """
        Atomically: ``decide(config or None)`` (a pure function, run in the
        transaction; it may raise to refuse) returns ``(config, keep)``; a
        missing node is created with that config (TooManyNodes at
        ``maxNodes``); the item replaces any of the same id and becomes the
        newest; all but ``keep`` items are dropped. Fire ``(config,
        created, droppedIds)``.
        """

    def items(owner, node, maxItems=None, itemIds=None):
        """Fire the newest ``maxItems`` (or those of ``itemIds``), oldest first."""

    def lastItem(owner, node):
        """Fire the newest ``(itemId, payload)``, or None."""

    def retract(owner, node, itemIds):
        """Delete those items; fire the ids that existed."""

    def purge(owner, node):
        """Delete every item of the node."""

    def affiliations(owner, node):
        """Fire ``{jid: affiliation}`` set by the owner (``member``, ``outcast``, …)."""

    def setAffiliations(owner, node, changes):
        """Apply ``{jid: affiliation}``; ``"none"`` removes the entry."""

    def subscribe(owner, node, jid):
        """Record an explicit subscription (idempotent)."""

    def unsubscribe(owner, node, jid):
        """Remove it; fire True if there was one."""

    def subscribers(owner, node):
        """Fire the explicitly subscribed JIDs, sorted."""
