"""
The core's stores in Python objects: ``[storage] backend = "memory"``.

For tests and throwaway servers: nothing survives a restart. Each store
implements the same interface as its SQL twin with the same semantics --
ordering, limits, errors -- which ``tests/storage`` holds them to by
running one test class against memory, SQLite and MariaDB. Every method
runs to completion in the reactor thread before it returns an already fired
Deferred, so a check and the write after it are atomic here the way a
transaction makes them atomic in SQL.
"""

import dataclasses
import time

from twisted.internet import defer
from zope.interface import implementer

from xmppd.storage.interfaces import (
    IRosterStore, ISettingsStore, IUserStore, RosterFull, StorageError, UnknownUser, UserExists)
from xmppd.storage.roster import RosterState
from xmppd.storage.users import HASH_NAMES, checkHashName


def _deferred(method):
    """Run a synchronous method and return its outcome as a fired Deferred."""
    def wrapper(self, *args, **kw):
        return defer.maybeDeferred(method, self, *args, **kw)
    wrapper.__name__ = method.__name__
    wrapper.__doc__ = method.__doc__
    return wrapper


class MemoryStore:
    """A store whose rows are Python objects: no database, no transaction."""

    database = None


@implementer(IUserStore)
class MemoryUserStore(MemoryStore):
    def __init__(self):
        self.accounts = {}

    @staticmethod
    def _keys(keys):
        return {hashName: tuple(keys[hashName]) for hashName in HASH_NAMES}

    @_deferred
    def create(self, jid, keys):
        keys = self._keys(keys)
        if jid in self.accounts:
            raise UserExists(jid)
        self.accounts[jid] = (keys, int(time.time() * 1_000_000))

    @_deferred
    def setKeys(self, jid, keys):
        keys = self._keys(keys)
        if jid not in self.accounts:
            raise UnknownUser(jid)
        self.accounts[jid] = (keys, self.accounts[jid][1])

    def deleteAccount(self, transaction, jid):
        if self.accounts.pop(jid, None) is None:
            raise UnknownUser(jid)

    @_deferred
    def exists(self, jid):
        return jid in self.accounts

    def getKeys(self, jid, hashName):
        checkHashName(hashName)
        account = self.accounts.get(jid)
        return defer.succeed(None if account is None else account[0][hashName])

    @_deferred
    def count(self, host):
        return len(self._of(host))

    @_deferred
    def listUsers(self, host=None):
        return sorted(self.accounts if host is None else self._of(host))

    def _of(self, host):
        suffix = "@" + host
        return [jid for jid in self.accounts if jid.endswith(suffix)]


@implementer(ISettingsStore)
class MemorySettingsStore(MemoryStore):
    def __init__(self):
        self.values = {}

    @_deferred
    def get(self, jid, node, key):
        return self.values.get((jid, node, key))

    @_deferred
    def set(self, jid, node, key, value):
        if value is None:
            # The SQL column is NOT NULL.
            raise StorageError("memory: a setting's value may not be None")
        self.values[jid, node, key] = str(value)

    @_deferred
    def delete(self, jid, node, key):
        self.values.pop((jid, node, key), None)

    def deleteAccount(self, transaction, jid):
        for address in [address for address in self.values if address[0] == jid]:
            del self.values[address]


def _asStored(item):
    """The item as the SQL store reads it back: name "" for none, groups a tuple."""
    if item is None:
        return None
    return dataclasses.replace(item, name=item.name or "", groups=tuple(item.groups),
                               subscriptionTo=bool(item.subscriptionTo),
                               subscriptionFrom=bool(item.subscriptionFrom),
                               pendingOut=bool(item.pendingOut), approved=bool(item.approved))


@implementer(IRosterStore)
class MemoryRosterStore(MemoryStore):
    def __init__(self):
        self.items = {}
        self.pending = {}
        self.versions = {}

    @_deferred
    def getRoster(self, owner):
        items = self.items.get(owner, {})
        return self.versions.get(owner, 0), [items[c] for c in sorted(items)]

    @_deferred
    def getVersion(self, owner):
        return self.versions.get(owner, 0)

    @_deferred
    def getState(self, owner, contact):
        return self._state(owner, contact)

    def _state(self, owner, contact):
        return RosterState(self.items.get(owner, {}).get(contact),
                           self.pending.get(owner, {}).get(contact))

    @_deferred
    def transition(self, owner, contact, change, maxItems=None):
        old = self._state(owner, contact)
        new = change(old)
        version = self.versions.get(owner, 0)
        if new.item != old.item:
            if new.item is not None and new.item.contact != contact:
                raise ValueError("a transition may not change the contact")
            items = self.items.get(owner, {})
            if (old.item is None and new.item is not None and maxItems is not None
                    and len(items) >= maxItems):
                raise RosterFull(owner)
            if new.item is None:
                items.pop(contact, None)
            else:
                items[contact] = _asStored(new.item)
            self._keep(self.items, owner, items)
            version += 1
            self.versions[owner] = version
        if new.pendingIn != old.pendingIn:
            pending = self.pending.get(owner, {})
            if new.pendingIn is None:
                pending.pop(contact, None)
            else:
                pending[contact] = new.pendingIn
            self._keep(self.pending, owner, pending)
        return old, new, version

    @staticmethod
    def _keep(table, owner, rows):
        if rows:
            table[owner] = rows
        else:
            table.pop(owner, None)

    @_deferred
    def subscribedTo(self, contact):
        return {owner for owner, items in self.items.items()
                if contact in items and items[contact].subscriptionFrom}

    @_deferred
    def pendingRequests(self, owner):
        pending = self.pending.get(owner, {})
        return [(contact, pending[contact]) for contact in sorted(pending)]

    @_deferred
    def initialPresenceView(self, owner):
        items = self.items.get(owner, {})
        rows = [items[c] for c in sorted(items)]
        pending = self.pending.get(owner, {})
        requests = [(contact, pending[contact]) for contact in sorted(pending)]
        agreeing = None
        if any(row.subscriptionTo for row in rows):
            agreeing = {other for other, theirs in self.items.items()
                        if owner in theirs and theirs[owner].subscriptionFrom}
        return self.versions.get(owner, 0), rows, requests, agreeing

    def deleteAccount(self, transaction, owner):
        for table in (self.items, self.pending, self.versions):
            table.pop(owner, None)
