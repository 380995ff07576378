"""
Rosters, pending subscription requests and roster versions (RFC 6121 §2–3,
XEP-0237).

Every change of one contact's state goes through ``transition``: the
caller's pure function sees the current state and returns the next one
inside a transaction that holds the owner's version row, so that two
changes of one roster (a roster set racing an inbound ``subscribed``, or
two nodes serving one account) never lose each other's update.
"""

import dataclasses
import json

from zope.interface import implementer

from xmppd.storage.interfaces import IRosterStore, RosterFull
from xmppd.storage.registry import SQLStore

_SUBSCRIPTIONS = {(False, False): "none", (True, False): "to",
                  (False, True): "from", (True, True): "both"}
_STATES = {name: flags for flags, name in _SUBSCRIPTIONS.items()}


@dataclasses.dataclass(frozen=True)
class RosterRow:
    """One roster item as stored; ``contact`` is a normalised JID string."""

    contact: str
    name: str = ""
    groups: tuple = ()
    subscriptionTo: bool = False
    subscriptionFrom: bool = False
    pendingOut: bool = False
    approved: bool = False

    @property
    def subscription(self):
        return _SUBSCRIPTIONS[self.subscriptionTo, self.subscriptionFrom]


@dataclasses.dataclass(frozen=True)
class RosterState:
    """
    Everything the owner's server knows about one contact: the roster item
    (None when the contact is not on the roster) and, when the contact asked
    to see the owner's presence and got no answer yet, that request's XML.
    """

    item: RosterRow = None
    pendingIn: str = None


_ITEM_COLUMNS = "contact, name, groups_json, subscription, pending_out, approved"


def _rowFrom(record):
    contact, name, groupsJSON, subscription, pendingOut, approved = record
    subscriptionTo, subscriptionFrom = _STATES.get(subscription, (False, False))
    return RosterRow(contact, name or "", tuple(json.loads(groupsJSON or "[]")),
                     subscriptionTo, subscriptionFrom, bool(pendingOut), bool(approved))


@implementer(IRosterStore)
class RosterStore(SQLStore):
    # The account's own roster; its item in other rosters is theirs.
    accountTables = [("roster_items", "owner"), ("roster_pending", "owner"),
                     ("roster_versions", "owner")]

    # Reading -----------------------------------------------------------------

    def getRoster(self, owner):
        return self.database.runInteraction(self._getRoster, owner)

    def _getRoster(self, transaction, owner):
        rows = transaction.execute(
            "SELECT %s FROM roster_items WHERE owner = ? ORDER BY contact" % _ITEM_COLUMNS,
            (owner,)).fetchall()
        return self._version(transaction, owner), [_rowFrom(r) for r in rows]

    def getVersion(self, owner):
        return self.database.runInteraction(self._version, owner)

    def _version(self, transaction, owner):
        rows = transaction.execute(
            "SELECT version FROM roster_versions WHERE owner = ?", (owner,)).fetchall()
        return int(rows[0][0]) if rows else 0

    def getState(self, owner, contact):
        return self.database.runInteraction(self._state, owner, contact)

    def _state(self, transaction, owner, contact):
        items = transaction.execute(
            "SELECT %s FROM roster_items WHERE owner = ? AND contact = ?" % _ITEM_COLUMNS,
            (owner, contact)).fetchall()
        pending = transaction.execute(
            "SELECT xml FROM roster_pending WHERE owner = ? AND contact = ?",
            (owner, contact)).fetchall()
        return RosterState(_rowFrom(items[0]) if items else None,
                           pending[0][0] if pending else None)

    def subscribedTo(self, contact):
        d = self.database.runQuery(
            "SELECT owner FROM roster_items WHERE contact = ?"
            " AND subscription IN ('from', 'both')", (contact,))
        d.addCallback(lambda rows: {row[0] for row in rows})
        return d

    def pendingRequests(self, owner):
        return self.database.runQuery(
            "SELECT contact, xml FROM roster_pending WHERE owner = ? ORDER BY contact",
            (owner,))

    def initialPresenceView(self, owner):
        return self.database.runInteraction(self._initialPresenceView, owner)

    def _initialPresenceView(self, transaction, owner):
        rows = [_rowFrom(r) for r in transaction.execute(
            "SELECT %s FROM roster_items WHERE owner = ? ORDER BY contact" % _ITEM_COLUMNS,
            (owner,)).fetchall()]
        requests = transaction.execute(
            "SELECT contact, xml FROM roster_pending WHERE owner = ? ORDER BY contact",
            (owner,)).fetchall()
        agreeing = None
        if any(row.subscriptionTo for row in rows):
            agreeing = {r[0] for r in transaction.execute(
                "SELECT owner FROM roster_items WHERE contact = ?"
                " AND subscription IN ('from', 'both')", (owner,)).fetchall()}
        return self._version(transaction, owner), rows, requests, agreeing

    # Changing ------------------------------------------------------------------

    def transition(self, owner, contact, change, maxItems=None):
        return self.database.runInteraction(self._transition, owner, contact, change, maxItems)

    def _transition(self, transaction, owner, contact, change, maxItems):
        transaction.engine.lockKey(transaction, "roster_versions", "owner", owner)
        old = self._state(transaction, owner, contact)
        new = change(old)
        version = self._version(transaction, owner)
        if new.item != old.item:
            if new.item is not None and new.item.contact != contact:
                raise ValueError("a transition may not change the contact")
            if old.item is None and new.item is not None and maxItems is not None:
                count = transaction.execute(
                    "SELECT COUNT(*) FROM roster_items WHERE owner = ?",
                    (owner,)).fetchall()[0][0]
                if count >= maxItems:
                    raise RosterFull(owner)
            self._writeItem(transaction, owner, contact, new.item)
            version = self._bump(transaction, owner, version)
        if new.pendingIn != old.pendingIn:
            transaction.execute(
                "DELETE FROM roster_pending WHERE owner = ? AND contact = ?", (owner, contact))
            if new.pendingIn is not None:
                transaction.execute(
                    "INSERT INTO roster_pending (owner, contact, xml) VALUES (?, ?, ?)",
                    (owner, contact, new.pendingIn))
        return old, new, version

    def _writeItem(self, transaction, owner, contact, item):
        transaction.execute(
            "DELETE FROM roster_items WHERE owner = ? AND contact = ?", (owner, contact))
        if item is None:
            return
        transaction.execute(
            "INSERT INTO roster_items (owner, %s) VALUES (?, ?, ?, ?, ?, ?, ?)" % _ITEM_COLUMNS,
            (owner, contact, item.name or None, json.dumps(list(item.groups)),
             item.subscription, int(item.pendingOut), int(item.approved)))

    def _bump(self, transaction, owner, version):
        version += 1
        if transaction.execute(
                "SELECT 1 FROM roster_versions WHERE owner = ?", (owner,)).fetchall():
            transaction.execute(
                "UPDATE roster_versions SET version = ? WHERE owner = ?", (version, owner))
        else:
            transaction.execute(
                "INSERT INTO roster_versions (owner, version) VALUES (?, ?)", (owner, version))
        return version
