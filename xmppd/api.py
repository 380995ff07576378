"""
The module API: the one import a plugin needs.

Built-in modules use exactly these names, so a third-party module can do
everything they do. Anything not exported here (the c2s layer, SQL, the
session internals) may change between releases.

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
- ``BLOCKED`` (ownerBareJID, jid): a question too; the blocking module
  answers True when the owner's XEP-0191 blocklist covers the JID ``jid``,
  and nobody answers (None) otherwise or without the module.
- ``MESSAGE_OFFLINE`` (offlineMessage): a message no resource can receive;
  ``offlineMessage.stanza`` and ``.recipient`` (bare JID). Whoever takes it
  returns non-None; otherwise it is bounced.
- ``AVAILABLE_BROADCAST`` (session, presence): a resource's available
  presence is about to be broadcast; a hook may add elements to it.
- ``OFFLINE_STORED`` (offlineMessage, rowId), ``OFFLINE_DELIVERED``
  (session, rowIds), ``OFFLINE_EXPIRED`` (recipient, sender, xml).
"""

from twisted.words.protocols.jabber.error import StanzaError
from twisted.words.protocols.jabber.jid import JID
from twisted.words.protocols.jabber.xmlstream import toResponse
from wokkel.iwokkel import IDisco
from wokkel.subprotocols import IQHandlerMixin, XMPPHandler

from xmppd.config import ConfigError, Option, Schema
from xmppd.imodule import IHost, IModule
from xmppd.module import Module

RESOURCE_BOUND = "resource-bound"
RESOURCE_UNBOUND = "resource-unbound"
ROSTER_REQUESTED = "roster-requested"
RESOURCE_AVAILABLE = "resource-available"
PRIORITY_CHANGED = "priority-changed"
PRESENCE_UPDATED = "presence-updated"
PRESENCE_CONTACTS = "presence/contacts"
BLOCKED = "blocking/blocked"
RESOURCE_UNAVAILABLE = "resource-unavailable"
MESSAGE_OFFLINE = "message/offline"
OFFLINE_STORED = "offline/stored"
OFFLINE_DELIVERED = "offline/delivered"
OFFLINE_EXPIRED = "offline/expired"
AVAILABLE_BROADCAST = "presence/broadcast-available"
# What a client sends, before it is routed (session, stanza); non-None takes it.
CLIENT_OUTBOUND = "client/outbound"
# A message in its recipient's lane, before routing decides (message).
MESSAGE_INBOUND = "message/inbound"
# Routing acts on a message a resource can take, or that bounces (message, routing).
MESSAGE_ROUTE = "message/route"
# A session ended holding stanzas it never delivered (session, stanzas).
SESSION_LEFT_BEHIND = "session/left-behind"

__all__ = [
    "ConfigError", "IDisco", "IHost", "IModule", "IQHandlerMixin", "JID", "Module",
    "Option", "Schema", "StanzaError", "XMPPHandler", "toResponse",
    "AVAILABLE_BROADCAST", "BLOCKED", "CLIENT_OUTBOUND", "MESSAGE_INBOUND", "MESSAGE_ROUTE",
    "SESSION_LEFT_BEHIND", "MESSAGE_OFFLINE", "OFFLINE_DELIVERED", "OFFLINE_EXPIRED",
    "OFFLINE_STORED",
    "PRESENCE_CONTACTS", "PRESENCE_UPDATED", "PRIORITY_CHANGED", "RESOURCE_AVAILABLE",
    "RESOURCE_BOUND", "RESOURCE_UNAVAILABLE", "RESOURCE_UNBOUND", "ROSTER_REQUESTED",
]
