"""
The only package that knows SQL: a Database (pool + dialect) and one store
per feature, each implementing an interface from ``interfaces``.

    database = Database("sqlite", path="xmppd.sqlite")
    await database.start()
    users = UserStore(database)
"""

from xmppd.storage.database import Database
from xmppd.storage.interfaces import QuotaExceeded, StorageError, UnknownUser, UserExists
from xmppd.storage.offline import OfflineStore
from xmppd.storage.settings import SettingsStore
from xmppd.storage.users import UserStore

__all__ = [
    "Database", "UserStore", "SettingsStore", "OfflineStore",
    "StorageError", "UserExists", "UnknownUser", "QuotaExceeded",
]
