"""
Personal Eventing Protocol storage (XEP-0163): each account's nodes, their
items, whitelist affiliations and explicit subscriptions.

A node's configuration is the pep module's business and is kept as JSON;
what storage needs of it -- how many items to keep -- is passed in by the
caller. Every change of an account's nodes first locks the account's
``pep_services`` row, so that an auto-create checks the node count and
inserts atomically, and two publishes to one node number their items one
after the other, on both backends.
"""

import json
import time

from zope.interface import Interface, implementer

from xmppd.storage.interfaces import NodeExists, NoSuchNode, TooManyNodes
from xmppd.storage.registry import SQLStore


def _now():
    return int(time.time() * 1_000_000)


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


@implementer(IPepStore)
class PepStore(SQLStore):
    accountTables = [("pep_services", "owner"), ("pep_nodes", "owner"), ("pep_items", "owner"),
                     ("pep_affiliations", "owner"), ("pep_subscriptions", "owner")]

    # Nodes -----------------------------------------------------------------------

    def getNode(self, owner, node):
        return self.database.runInteraction(self._config, owner, node)

    def _config(self, transaction, owner, node):
        rows = transaction.execute(
            "SELECT config_json FROM pep_nodes WHERE owner = ? AND node = ?",
            (owner, node)).fetchall()
        return json.loads(rows[0][0]) if rows else None

    def nodes(self, owner):
        d = self.database.runQuery(
            "SELECT node, config_json FROM pep_nodes WHERE owner = ? ORDER BY node", (owner,))
        d.addCallback(lambda rows: [(node, json.loads(config)) for node, config in rows])
        return d

    def createNode(self, owner, node, config, maxNodes):
        return self.database.runInteraction(self._create, owner, node, config, maxNodes)

    def _create(self, transaction, owner, node, config, maxNodes):
        self._lock(transaction, owner)
        if self._config(transaction, owner, node) is not None:
            raise NodeExists(node)
        self._insertNode(transaction, owner, node, config, maxNodes)

    def _insertNode(self, transaction, owner, node, config, maxNodes):
        count = transaction.execute(
            "SELECT COUNT(*) FROM pep_nodes WHERE owner = ?", (owner,)).fetchall()[0][0]
        if count >= maxNodes:
            raise TooManyNodes(owner)
        transaction.execute(
            "INSERT INTO pep_nodes (owner, node, config_json, created_at) VALUES (?, ?, ?, ?)",
            (owner, node, json.dumps(config, sort_keys=True), _now()))

    def configureNode(self, owner, node, config, keep):
        return self.database.runInteraction(self._configure, owner, node, config, keep)

    def _configure(self, transaction, owner, node, config, keep):
        self._lock(transaction, owner)
        changed = transaction.execute(
            "UPDATE pep_nodes SET config_json = ? WHERE owner = ? AND node = ?",
            (json.dumps(config, sort_keys=True), owner, node)).rowcount
        if not changed and self._config(transaction, owner, node) is None:
            raise NoSuchNode(node)
        return self._trim(transaction, owner, node, keep)

    def deleteNode(self, owner, node):
        return self.database.runInteraction(self._deleteNode, owner, node)

    def _deleteNode(self, transaction, owner, node):
        self._lock(transaction, owner)
        if transaction.execute("DELETE FROM pep_nodes WHERE owner = ? AND node = ?",
                               (owner, node)).rowcount == 0:
            raise NoSuchNode(node)
        for table in ("pep_items", "pep_affiliations", "pep_subscriptions"):
            transaction.execute("DELETE FROM %s WHERE owner = ? AND node = ?" % table,
                                (owner, node))

    # Items -----------------------------------------------------------------------

    def publish(self, owner, node, itemId, payload, publisher, decide, maxNodes):
        return self.database.runInteraction(
            self._publish, owner, node, itemId, payload, publisher, decide, maxNodes)

    def _publish(self, transaction, owner, node, itemId, payload, publisher, decide,
                 maxNodes):
        self._lock(transaction, owner)
        existing = self._config(transaction, owner, node)
        config, keep = decide(existing)
        if existing is None:
            self._insertNode(transaction, owner, node, config, maxNodes)
        rows = transaction.execute(
            "SELECT MAX(seq) FROM pep_items WHERE owner = ? AND node = ?",
            (owner, node)).fetchall()
        seq = (rows[0][0] or 0) + 1
        transaction.execute(
            "DELETE FROM pep_items WHERE owner = ? AND node = ? AND item_id = ?",
            (owner, node, itemId))
        transaction.execute(
            "INSERT INTO pep_items (owner, node, item_id, seq, publisher, payload,"
            " published_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (owner, node, itemId, seq, publisher, payload, _now()))
        return config, existing is None, self._trim(transaction, owner, node, keep)

    def _trim(self, transaction, owner, node, keep):
        """Delete all but the ``keep`` newest items; return the deleted ids."""
        rows = transaction.execute(
            "SELECT item_id FROM pep_items WHERE owner = ? AND node = ? ORDER BY seq DESC",
            (owner, node)).fetchall()
        dropped = [row[0] for row in rows[keep:]]
        for itemId in dropped:
            transaction.execute(
                "DELETE FROM pep_items WHERE owner = ? AND node = ? AND item_id = ?",
                (owner, node, itemId))
        return dropped

    def items(self, owner, node, maxItems=None, itemIds=None):
        return self.database.runInteraction(self._items, owner, node, maxItems, itemIds)

    def _items(self, transaction, owner, node, maxItems, itemIds):
        rows = transaction.execute(
            "SELECT item_id, payload FROM pep_items WHERE owner = ? AND node = ?"
            " ORDER BY seq DESC", (owner, node)).fetchall()
        if itemIds is not None:
            wanted = set(itemIds)
            rows = [row for row in rows if row[0] in wanted]
        if maxItems is not None:
            rows = rows[:maxItems]
        return list(reversed(rows))

    def lastItem(self, owner, node):
        d = self.items(owner, node, maxItems=1)
        d.addCallback(lambda rows: rows[0] if rows else None)
        return d

    def retract(self, owner, node, itemIds):
        return self.database.runInteraction(self._retract, owner, node, itemIds)

    def _retract(self, transaction, owner, node, itemIds):
        self._lock(transaction, owner)
        retracted = []
        for itemId in itemIds:
            if transaction.execute(
                    "DELETE FROM pep_items WHERE owner = ? AND node = ? AND item_id = ?",
                    (owner, node, itemId)).rowcount:
                retracted.append(itemId)
        return retracted

    def purge(self, owner, node):
        return self.database.runInteraction(self._purge, owner, node)

    def _purge(self, transaction, owner, node):
        self._lock(transaction, owner)
        transaction.execute("DELETE FROM pep_items WHERE owner = ? AND node = ?",
                            (owner, node))

    # Who else ---------------------------------------------------------------------

    def affiliations(self, owner, node):
        d = self.database.runQuery(
            "SELECT jid, affiliation FROM pep_affiliations WHERE owner = ? AND node = ?"
            " ORDER BY jid", (owner, node))
        d.addCallback(dict)
        return d

    def setAffiliations(self, owner, node, changes):
        return self.database.runInteraction(self._setAffiliations, owner, node, changes)

    def _setAffiliations(self, transaction, owner, node, changes):
        self._lock(transaction, owner)
        for jid, affiliation in sorted(changes.items()):
            transaction.execute(
                "DELETE FROM pep_affiliations WHERE owner = ? AND node = ? AND jid = ?",
                (owner, node, jid))
            if affiliation != "none":
                transaction.execute(
                    "INSERT INTO pep_affiliations (owner, node, jid, affiliation)"
                    " VALUES (?, ?, ?, ?)", (owner, node, jid, affiliation))

    def subscribe(self, owner, node, jid):
        return self.database.runInteraction(self._subscribe, owner, node, jid)

    def _subscribe(self, transaction, owner, node, jid):
        self._lock(transaction, owner)
        if not transaction.execute(
                "SELECT 1 FROM pep_subscriptions WHERE owner = ? AND node = ? AND jid = ?",
                (owner, node, jid)).fetchall():
            transaction.execute(
                "INSERT INTO pep_subscriptions (owner, node, jid) VALUES (?, ?, ?)",
                (owner, node, jid))

    def unsubscribe(self, owner, node, jid):
        d = self.database.runOperation(
            "DELETE FROM pep_subscriptions WHERE owner = ? AND node = ? AND jid = ?",
            (owner, node, jid))
        d.addCallback(bool)
        return d

    def subscribers(self, owner, node):
        d = self.database.runQuery(
            "SELECT jid FROM pep_subscriptions WHERE owner = ? AND node = ? ORDER BY jid",
            (owner, node))
        d.addCallback(lambda rows: [row[0] for row in rows])
        return d

    def _lock(self, transaction, owner):
        transaction.engine.lockKey(transaction, "pep_services", "owner", owner)
