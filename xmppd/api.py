"""
The module API: the one import a plugin needs.

Built-in modules use exactly these names, so a third-party module can do
everything they do; the architecture contracts (``[tool.importlinter]`` in
pyproject.toml, run by tests/test_architecture.py) hold every module to it.
Anything not exported here (the c2s layer, SQL, the session internals) may
change between releases.

What a module gets, and where:

- its handlers' ``host`` (IHost): ``domain``, ``events``, ``sessions``,
  ``storage`` (named stores), ``config``, ``access``, ``modules``,
  ``metricsRegistry``, ``lanes`` (one FIFO per account), ``clock``,
  ``provide``/``service``/``optionalService`` (services by interface),
  ``send``/``bounce``, ``addDiscoFeature``/``addStreamFeature``;
- from here: stanza helpers and errors, namespaces, the routing verdicts,
  event names, the interfaces of built-in services, ``SQLStore`` (the base
  of a module's own store: ``Module(stores={NAME: factory}, tables=
  "package")``, its rows of an account in ``accountTables``), storage
  errors, and
  what an ``xmppctl`` subcommand needs (``CommandError``, ``existingAccount``).

Events a module may hook on ``host.events`` (arguments in brackets; a
handler returning anything but None stops the event there):

- ``RESOURCE_BOUND`` / ``RESOURCE_UNBOUND`` (session): a client resource
  was bound, or its stream ended.
- ``ROSTER_REQUESTED`` (session): the resource asked for its roster.
- ``RESOURCE_AVAILABLE`` (session): its first available presence, fired
  after the roster result and the presence exchange were written.
- ``PRIORITY_CHANGED`` (session, oldPriority), ``RESOURCE_UNAVAILABLE``
  (session).
- ``PRESENCE_UPDATED`` (session): a later broadcast presence of an
  available resource was sent; ``session.presence`` is the new one.
- ``PRESENCE_CONTACTS`` (ownerBareJID, initial): a question, not news; the
  roster answers with a Deferred firing an object whose ``subscribers``
  (contacts with a ``from``/``both`` subscription) and ``publishers``
  (``to``/``both``) are lists of bare JIDs, or None without a roster.
- ``MESSAGE_OFFLINE`` (offlineMessage): a message no resource can receive;
  ``offlineMessage.stanza`` and ``.recipient`` (bare JID). Whoever takes it
  returns non-None; otherwise it is bounced.
- ``AVAILABLE_BROADCAST`` (session, presence): a resource's available
  presence is about to be broadcast; a hook may add elements to it.
- ``OFFLINE_STORED`` (offlineMessage, rowId), ``OFFLINE_DELIVERED``
  (session, rowIds), ``OFFLINE_EXPIRED`` (recipient, sender, xml).
- ``ACCOUNT_DELETED`` (bareJID): the account and every row any store held
  for it are gone (``host.accounts.delete``); a module forgets what it
  keeps of the account in memory. Fired on the account's host by the
  server that deleted it: ``xmppctl deluser`` runs in a process of its
  own, and a running server does not hear of it.
"""

from twisted.words.protocols.jabber.error import StanzaError
from twisted.words.protocols.jabber.jid import JID
from twisted.words.protocols.jabber.xmlstream import toResponse
from wokkel.iwokkel import IDisco
from wokkel.subprotocols import IQHandlerMixin, XMPPHandler

from xmppd.config import ConfigError, Option, Schema
from xmppd.ctl import CommandError, existingAccount, parseAccount
from xmppd.imodule import IHost, IModule
from xmppd.iservices import IOfflineService
from xmppd.module import Module
from xmppd.onbehalf import accountTarget, answerOnBehalf, isForAccount
from xmppd.router import BOUNCE, DELIVER, DROP, OFFLINE, OfflineMessage, Routing, route, targets
from xmppd.services import MissingService
from xmppd.stanzas import (
    NS_CHATSTATES, NS_CLIENT, NS_DELAY, NS_SESSION, NS_STANZAS, STANZA_NAMES, canWait,
    isMessage, jidFromAttribute, stanzaError)
from xmppd.storage.interfaces import (
    NodeExists, NoSuchNode, PrivateStorageFull, QuotaExceeded, RosterFull, StorageError,
    TooManyNodes, UnknownUser, UserExists)
from xmppd.storage.registry import MissingStore, SQLStore

from xmppd.events import (
    ACCOUNT_DELETED,
    RESOURCE_BOUND,
    RESOURCE_UNBOUND,
    ROSTER_REQUESTED,
    RESOURCE_AVAILABLE,
    PRIORITY_CHANGED,
    PRESENCE_UPDATED,
    PRESENCE_CONTACTS,
    RESOURCE_UNAVAILABLE,
    MESSAGE_OFFLINE,
    OFFLINE_STORED,
    OFFLINE_DELIVERED,
    OFFLINE_EXPIRED,
    AVAILABLE_BROADCAST,
    CLIENT_OUTBOUND,
    MESSAGE_INBOUND,
    MESSAGE_ROUTE,
    SESSION_LEFT_BEHIND,
    RESOURCE_RESUMED)

__all__ = [
    # Building modules
    "ConfigError", "IDisco", "IHost", "IModule", "IQHandlerMixin", "Module", "Option",
    "Schema", "XMPPHandler",
    # Services
    "IOfflineService", "MissingService",
    # Stanzas
    "JID", "NS_CHATSTATES", "NS_CLIENT", "NS_DELAY", "NS_SESSION", "NS_STANZAS",
    "STANZA_NAMES", "StanzaError", "accountTarget", "answerOnBehalf", "canWait",
    "isForAccount", "isMessage", "jidFromAttribute", "stanzaError", "toResponse",
    # Routing
    "BOUNCE", "DELIVER", "DROP", "OFFLINE", "OfflineMessage", "Routing", "route", "targets",
    # Storage: a module's own store, and the errors
    "MissingStore", "SQLStore", "NodeExists", "NoSuchNode", "PrivateStorageFull", "QuotaExceeded", "RosterFull",
    "StorageError", "TooManyNodes", "UnknownUser", "UserExists",
    # xmppctl subcommands
    "CommandError", "existingAccount", "parseAccount",
    # Events
    "ACCOUNT_DELETED", "AVAILABLE_BROADCAST", "CLIENT_OUTBOUND", "MESSAGE_INBOUND", "MESSAGE_OFFLINE",
    "MESSAGE_ROUTE", "OFFLINE_DELIVERED", "OFFLINE_EXPIRED", "OFFLINE_STORED",
    "PRESENCE_CONTACTS", "PRESENCE_UPDATED", "PRIORITY_CHANGED", "RESOURCE_AVAILABLE",
    "RESOURCE_BOUND", "RESOURCE_RESUMED", "RESOURCE_UNAVAILABLE", "RESOURCE_UNBOUND",
    "ROSTER_REQUESTED", "SESSION_LEFT_BEHIND",
]
