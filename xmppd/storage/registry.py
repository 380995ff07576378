"""
The stores of one server: the core's (``users``, ``settings``, ``roster``)
and those the enabled modules declare (``Module(stores={NAME: factory},
tables="package")``), under one database.

    storage = openStores(database, enabledModules, installedModules)
    await storage.start()          # the database, the deltas of every feature
    storage.offline.store(...)     # host.storage.offline in a module
    await storage.deleteAccount("alice@example.org")

A store is a factory's answer to ``factory(database)``; it decides by
``database.backend`` whether to keep its rows in SQL or, under ``memory``,
in Python objects. A store that holds rows of accounts says how to delete
them (``deleteAccount(transaction, bareJID)``, or ``SQLStore.accountTables``)
and the registry deletes them all together when an account goes; the core
never lists another feature's tables.
"""

from twisted.internet import defer


class MissingStore(AttributeError):
    """No enabled module opens a store of that name."""


class SQLStore:
    """
    A store on the SQL database. ``accountTables`` lists the (table,
    column holding the account's bare JID) pairs of rows that belong to one
    account; ``deleteAccount`` deletes them inside the transaction that
    deletes the account, so that an account goes with all its rows or not
    at all. A store whose rows need more than a DELETE overrides it.
    """

    accountTables = ()

    def __init__(self, database):
        self.database = database

    def deleteAccount(self, transaction, bareJID):
        for table, column in self.accountTables:
            transaction.execute("DELETE FROM %s WHERE %s = ?" % (table, column), (bareJID,))


def coreFactories():
    """The core's stores, by name: the SQL ones, or the memory ones when asked."""
    from xmppd.storage import memory
    from xmppd.storage.roster import RosterStore
    from xmppd.storage.settings import SettingsStore
    from xmppd.storage.users import UserStore

    def choose(sql, inMemory):
        def open(database):
            return inMemory() if database.backend == "memory" else sql(database)
        return open
    return {"users": choose(UserStore, memory.MemoryUserStore),
            "settings": choose(SettingsStore, memory.MemorySettingsStore),
            "roster": choose(RosterStore, memory.MemoryRosterStore)}


class StoreRegistry:
    """
    The named stores of one database, as attributes (``storage.users``,
    ``storage.offline``, …), and the dormant ones: the stores of modules
    that are installed but off. Those are not offered, but a deleted
    account's rows in their tables are deleted too when the tables exist:
    a module turned off and on again must not hand a new account of the
    same name the old one's data.
    """

    def __init__(self, database, **stores):
        self.database = database
        self._stores = dict(stores)
        self._dormant = {}

    def __getattr__(self, name):
        stores = self.__dict__.get("_stores")
        if stores is not None and name in stores:
            return stores[name]
        raise MissingStore("no enabled module opens a store named %r" % (name,))

    def __contains__(self, name):
        return name in self._stores

    def names(self):
        return sorted(self._stores)

    def add(self, name, store, owner="core"):
        if name in self._stores and self._stores[name] is not store:
            raise ValueError("two stores named %r (the second from %s)" % (name, owner))
        self._stores[name] = store

    def addDormant(self, package, store):
        """A store of a module that is off, whose rows live in ``package``'s tables."""
        if getattr(store, "database", None) is self.database and \
                getattr(store, "deleteAccount", None) is not None:
            self._dormant.setdefault(package, []).append(store)

    def openDormant(self):
        """
        Fire the dormant stores whose feature has tables in this database,
        opened: what a module now off left behind (an offline queue that
        must be handed over, say). None under the memory backend.
        """
        if self.database.backend == "memory" or not self._dormant:
            return defer.succeed([])
        d = self.database.recordedFeatures()
        d.addCallback(self._openRecorded)
        return d

    def _openRecorded(self, recorded):
        from xmppd.storage.migrations import featureName
        return [store
                for package, stores in sorted(self._dormant.items())
                if featureName(package) in recorded
                for store in stores]

    def start(self):
        """Open the database and apply the deltas of the core and every enabled feature."""
        return self.database.start()

    def stop(self):
        return self.database.stop()

    # Accounts ------------------------------------------------------------------------

    def deleteAccount(self, bareJID):
        """
        Delete the account and every row any store holds for it; fail
        UnknownUser (changing nothing) when there is no such account.

        The stores on the SQL database delete in one transaction with the
        ``users`` row, so that on SQLite and MariaDB an account goes whole
        or not at all; the dormant stores join it when their feature's
        tables are recorded in this database. Memory stores (``[storage]
        backend = "memory"``) delete in the reactor thread, the users
        store's check first.
        """
        return defer.ensureDeferred(self._deleteAccount(bareJID))

    async def _deleteAccount(self, bareJID):
        users = self._stores["users"]
        stores = [users] + [s for s in self._stores.values() if s is not users]
        inMemory = [s for s in stores if getattr(s, "database", None) is None
                    and getattr(s, "deleteAccount", None) is not None]
        inSQL = [s for s in stores if getattr(s, "database", None) is self.database
                 and getattr(s, "deleteAccount", None) is not None]
        if users in inMemory:
            for store in inMemory:
                store.deleteAccount(None, bareJID)
            inMemory = []
        await self.database.runInteraction(_deleteAll, inSQL, self._dormant, bareJID)
        for store in inMemory:
            store.deleteAccount(None, bareJID)


def _deleteAll(transaction, stores, dormant, bareJID):
    for store in stores:
        store.deleteAccount(transaction, bareJID)
    if dormant:
        from xmppd.storage.migrations import featureName, recordedFeatures
        recorded = recordedFeatures(transaction)
        for package, sleeping in sorted(dormant.items()):
            if featureName(package) in recorded:
                for store in sleeping:
                    store.deleteAccount(transaction, bareJID)


def openStores(database, modules=(), installed=()):
    """
    The registry of the core's stores and those of ``modules`` (the enabled
    IModules); the deltas of their ``tables`` are added to the database's
    schema. ``installed``: every available IModule, for the dormant stores.
    """
    registry = StoreRegistry(database)
    for name, factory in coreFactories().items():
        registry.add(name, factory(database))
    factories = {}
    for module in modules:
        tables = getattr(module, "tables", None)
        if tables:
            database.addSchema(tables)
        for name, factory in sorted(getattr(module, "stores", {}).items()):
            if name in registry and name not in factories:
                raise ValueError("modules.%s: the store %r is the core's" % (module.name, name))
            if name in factories:
                if factories[name][0] is not factory:
                    raise ValueError("modules.%s: a store named %r is already opened by"
                                     " modules.%s" % (module.name, name, factories[name][1]))
                continue
            factories[name] = (factory, module.name)
            registry.add(name, factory(database), module.name)
    # A memory database starts empty: no module that is off has rows in it.
    enabledTables = {getattr(module, "tables", None) for module in modules}
    dormant = {}
    for module in installed if database.backend != "memory" else ():
        tables = getattr(module, "tables", None)
        if tables and tables not in enabledTables:
            for factory in getattr(module, "stores", {}).values():
                if factory not in dormant.setdefault(tables, []):
                    dormant[tables].append(factory)
                    registry.addDormant(tables, factory(database))
    return registry


__all__ = ["MissingStore", "SQLStore", "StoreRegistry", "coreFactories", "openStores"]
