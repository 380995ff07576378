"""
The only package of the core that knows SQL: a Database (pool + engine),
the core's stores (users, settings, rosters) and the registry that opens
them together with the stores the enabled modules declare. A feature's own
store and tables live in the feature's package (``xmppd/offline/store.py``
and ``xmppd/offline/schema/``, say).

    database = Database("sqlite", path="xmppd.sqlite")
    storage = openStores(database, enabledModules)
    await storage.start()
    await storage.users.exists("alice@example.org")
"""

from xmppd.storage.database import Database
from xmppd.storage.interfaces import QuotaExceeded, StorageError, UnknownUser, UserExists
from xmppd.storage.registry import MissingStore, SQLStore, StoreRegistry, openStores
from xmppd.storage.settings import SettingsStore
from xmppd.storage.users import UserStore

__all__ = [
    "Database", "StoreRegistry", "openStores", "SQLStore", "MissingStore",
    "UserStore", "SettingsStore",
    "StorageError", "UserExists", "UnknownUser", "QuotaExceeded",
]
