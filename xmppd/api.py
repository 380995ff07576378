"""
The module API: the one import a plugin needs.

Built-in modules use exactly these names, so a third-party module can do
everything they do; the architecture contracts (``[tool.importlinter]`` in
pyproject.toml, run by tests/test_architecture.py) hold every module to it.
Anything not exported here (the c2s layer, SQL, the session internals) may
change between releases.

What a module gets, and where:

- its handlers' ``host`` (IHost, xmppd.imodule): ``domain``/``jid``,
  ``events``, ``sessions``, ``storage`` (named stores), ``config``,
  ``access``, ``modules``, ``metricsRegistry``, ``lanes`` (one FIFO per
  account for its messages), ``rosters`` (the roster manager: rosters as
  wokkel RosterItems, subscription changes, the contacts question, the
  presence an account shows, and ``rosters.lanes`` for roster and presence
  work), ``clock``, ``serverShared(key, factory)`` (state kept once per
  server), ``provide``/``service``/``optionalService`` (services by
  interface), ``hostFor``/``isLocalDomain``, ``send``/``bounce``,
  ``addDiscoFeature``/``addStreamFeature``/``addNonzaHandler``;
- from here: stanza helpers and errors, namespaces, copies and annotations
  (``annotate``/``annotation``: what a module notes on a stanza in transit,
  under a key of its own; ``EXPIRES_AT`` is the one modules share), the
  routing verdicts, what presence and the roster share (``Contacts``,
  ``RosterChange``, ``routeAsServer``, ``outboundSession``), event names,
  the stored copy of an offline message (``offlineCopy``: the stanza and
  the server's XEP-0203 delay), the interfaces of built-in services
  (``IOfflineService``, and ``IOfflineQueue`` with what its limits mean,
  ``exceededLimit``/``exceededBytes``: a module may provide the queue the
  offline service stores in), ``SQLStore``
  (the base of a module's own store: ``Module(stores={NAME: factory},
  tables="package")``, its rows of an account in ``accountTables``), storage
  errors, the checks a module's options may use (``normaliseDomain``,
  ``parseHostPort``), the server's ``VERSION``, and what an ``xmppctl``
  subcommand needs (``CommandError``, ``existingAccount``).

Events a module may hook on ``host.events`` (arguments in brackets; a
handler returning anything but None stops the event there):

- ``RESOURCE_BOUND`` / ``RESOURCE_UNBOUND`` (session): a client resource
  was bound, or its session ended.
- ``RESOURCE_RESUMED`` (session): a hibernating session came back through
  XEP-0198 resumption.
- ``ROSTER_REQUESTED`` (session): the resource asked for its roster.
- ``ROSTER_CHANGED`` (owner bare JID, contact, removed): a roster item
  changed or went, pushed to the owner's interested resources.
- ``RESOURCE_AVAILABLE`` (session): its first available presence, fired
  after the roster result and the presence exchange were written.
- ``PRIORITY_CHANGED`` (session, oldPriority), ``RESOURCE_UNAVAILABLE``
  (session).
- ``PRESENCE_UPDATED`` (session): a later broadcast presence of an
  available resource was sent; ``session.presence`` is the new one.
- ``AVAILABLE_BROADCAST`` (session, presence): a resource's available
  presence is about to be broadcast; a hook may add elements to it.
- ``PRESENCE_DIRECTED`` (session, presence): a local resource sends
  presence to one address; non-None takes it.
- ``PRESENCE_INBOUND`` (presence): presence for a local account, before it
  is delivered; non-None takes it (blocking).
- ``PRESENCE_CONTACTS`` (ownerBareJID, initial): a question, not news; the
  roster answers with a Deferred firing ``Contacts`` (``subscribers``:
  contacts with a ``from``/``both`` subscription, ``publishers``:
  ``to``/``both``, bare JIDs; with ``initial`` also ``pendingRequests``),
  or None without a roster.
- ``CLIENT_OUTBOUND`` (session, stanza): what a client sends, before it is
  routed; non-None takes it (blocking refuses, carbons copy).
- ``MESSAGE_INBOUND`` (message): a message in its recipient's lane, before
  routing decides; non-None takes it.
- ``MESSAGE_ROUTE`` (message, routing): routing acts on a message a
  resource can take now (``DELIVER``) or that bounces; non-None takes it.
- ``BLOCKED`` (ownerBareJID, jid): a question too; the blocking module
  answers True when the owner's XEP-0191 blocklist covers the JID ``jid``,
  and nobody answers (None) otherwise or without the module.
- ``MESSAGE_OFFLINE`` (offlineMessage): a message no resource can receive;
  ``offlineMessage.stanza`` and ``.recipient`` (bare JID). Whoever takes it
  returns non-None; otherwise it is bounced.
- ``OFFLINE_STORED`` (offlineMessage, rowId), ``OFFLINE_DELIVERED``
  (session, rowIds), ``OFFLINE_EXPIRED`` (recipient, sender, xml).
- ``ACCOUNT_DELETED`` (bareJID): the account and every row any store held
  for it are gone (``host.accounts.delete``); a module forgets what it
  keeps of the account in memory. Fired on the account's host by the
  server that deleted it: ``xmppctl deluser`` runs in a process of its
  own, and a running server does not hear of it.
- ``SESSION_LEFT_BEHIND`` (session, stanzas): a session ended holding
  stanzas it never delivered; the router routes them again.

The events keep positional arguments: hooks in modules and tests name them
that way. A hook with nothing to do for a while (blocking's checks while no
account has a blocklist) may be suspended, ``host.events.suspend(name,
handler)``, and resumed in its place, ``host.events.resume(name, handler)``:
the stanzas that fire the event meanwhile do not call it.
"""

from twisted.words.protocols.jabber.error import StanzaError
from twisted.words.protocols.jabber.jid import JID
from twisted.words.protocols.jabber.xmlstream import toResponse
from wokkel.iwokkel import IDisco
from wokkel.subprotocols import IQHandlerMixin, XMPPHandler

from xmppd import __version__ as VERSION
from xmppd.config import ConfigError, Option, Schema
from xmppd.config.values import normaliseDomain, parseHostPort
from xmppd.ctl import CommandError, existingAccount, parseAccount
from xmppd.entitycaps import HASHES as CAPS_HASHES
from xmppd.entitycaps import NS_CAPS, capsElement, capsOf, capsVer, infoQuery
from xmppd.imodule import IHost, IModule
from xmppd.iservices import (
    NO_ACCOUNT, IOfflineQueue, IOfflineService, OverQuota, accountExists, boundedLimit,
    existingAccounts,
    deleteQueueRows,
    exceededBytes, exceededLimit, raiseOverQuota)
from xmppd.module import Module
from xmppd.onbehalf import accountTarget, answerOnBehalf, isForAccount
from xmppd.router import BOUNCE, DELIVER, DROP, OFFLINE, OfflineMessage, Routing, route, targets
from xmppd.rostermanager import Contacts, ContactState, RosterChange, unavailablePresence
from xmppd.services import MissingService
from xmppd.stanzas import (
    EXPIRES_AT, NS_CHATSTATES, NS_CLIENT, NS_DELAY, NS_SESSION, NS_STANZAS, STANZA_NAMES,
    SUBSCRIPTION_TYPES, annotate, annotation, canWait, copyStanza, formatStamp, isMessage,
    jidFromAttribute, offlineCopy, parsePriority, outboundSession, routeAsServer, stanzaError)
from xmppd.storage.interfaces import (
    NodeExists, NoSuchNode, PrivateStorageFull, QuotaExceeded, RosterFull, StorageError,
    TooManyNodes, UnknownUser, UserExists)
from xmppd.storage.registry import MissingStore, SQLStore

from xmppd.events import (
    ACCOUNT_DELETED,
    BLOCKED,
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
    RESOURCE_RESUMED,
    PRESENCE_DIRECTED,
    PRESENCE_INBOUND,
    ROSTER_CHANGED)

__all__ = [
    # Building modules
    "ConfigError", "IDisco", "IHost", "IModule", "IQHandlerMixin", "Module", "Option",
    "Schema", "VERSION", "XMPPHandler", "normaliseDomain", "parseHostPort",
    # Services
    "IOfflineQueue", "IOfflineService", "MissingService", "NO_ACCOUNT", "OverQuota", "accountExists", "existingAccounts", "deleteQueueRows", "boundedLimit", "raiseOverQuota", "exceededBytes", "exceededLimit",
    # Stanzas
    "EXPIRES_AT", "JID", "NS_CHATSTATES", "NS_CLIENT", "NS_DELAY", "NS_SESSION", "NS_STANZAS",
    "STANZA_NAMES", "StanzaError", "accountTarget", "annotate", "annotation",
    "answerOnBehalf", "canWait", "copyStanza", "formatStamp", "isForAccount", "isMessage", "parsePriority",
    "jidFromAttribute", "offlineCopy", "stanzaError", "toResponse",
    # Entity capabilities (XEP-0115)
    "CAPS_HASHES", "NS_CAPS", "capsElement", "capsOf", "capsVer", "infoQuery",
    # Routing
    "BOUNCE", "DELIVER", "DROP", "OFFLINE", "OfflineMessage", "Routing", "route", "targets",
    "outboundSession", "routeAsServer",
    # Rosters and presence (host.rosters)
    "ContactState", "Contacts", "RosterChange", "SUBSCRIPTION_TYPES", "unavailablePresence",
    # Storage: a module's own store, and the errors
    "MissingStore", "SQLStore",
    "NodeExists", "NoSuchNode", "PrivateStorageFull", "QuotaExceeded", "RosterFull",
    "StorageError", "TooManyNodes", "UnknownUser", "UserExists",
    # xmppctl subcommands
    "CommandError", "existingAccount", "parseAccount",
    # Events
    "ACCOUNT_DELETED", "AVAILABLE_BROADCAST", "BLOCKED", "CLIENT_OUTBOUND", "MESSAGE_INBOUND", "MESSAGE_OFFLINE",
    "MESSAGE_ROUTE", "OFFLINE_DELIVERED", "OFFLINE_EXPIRED", "OFFLINE_STORED",
    "PRESENCE_CONTACTS", "PRESENCE_DIRECTED", "PRESENCE_INBOUND", "PRESENCE_UPDATED",
    "PRIORITY_CHANGED", "RESOURCE_AVAILABLE", "RESOURCE_BOUND", "RESOURCE_RESUMED",
    "RESOURCE_UNAVAILABLE", "RESOURCE_UNBOUND", "ROSTER_CHANGED", "ROSTER_REQUESTED",
    "SESSION_LEFT_BEHIND",
]
