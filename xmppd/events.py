"""
Named events with priorities, the glue between modules (Prosody's model).

The module that decides something fires an event; the modules that react to
it hook it. A handler that returns a value other than None stops the event:
that is how "the first module to take this stanza owns it" is expressed, for
example offline storage taking a message that no resource could receive.
"""

from twisted.python import log

# The events of the core, by name (documented in xmppd.api).
RESOURCE_BOUND = "resource-bound"
RESOURCE_UNBOUND = "resource-unbound"
ROSTER_REQUESTED = "roster-requested"
RESOURCE_AVAILABLE = "resource-available"
PRIORITY_CHANGED = "priority-changed"
PRESENCE_UPDATED = "presence-updated"
PRESENCE_CONTACTS = "presence/contacts"
# Does the owner block this JID (ownerBareJID, jid)? True from the blocking module.
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

# An account's resource came back through XEP-0198 resumption (session).
RESOURCE_RESUMED = "resource-resumed"
# An account and everything stored for it were deleted (bareJID), fired on
# its host: modules forget what they keep of it in memory.
ACCOUNT_DELETED = "account-deleted"
# Presence from a local resource to one address (session, presence); non-None takes it.
PRESENCE_DIRECTED = "presence/directed"
# Presence for a local account, before it is delivered (presence); non-None takes it.
PRESENCE_INBOUND = "presence/inbound"
# A roster item changed or went (owner bare JID, contact string, removed).
ROSTER_CHANGED = "roster/changed"


class EventBus:
    def __init__(self):
        # name -> the handlers in calling order, a tuple replaced (never
        # changed in place) on hook and unhook: a handler that hooks or
        # unhooks while the event runs changes the next firing, not this one.
        # Only events with a handler are here: a firer on the path of every
        # message asks ``name in events.handlers`` before it calls ``fire``.
        self.handlers = {}
        self._hooked = {}
        # name -> the handlers hooked but suspended (skipped for now).
        self._suspended = {}

    def hook(self, name, handler, priority=0):
        """Call ``handler(*args)`` on ``name``; higher priorities run first."""
        hooked = self._hooked.setdefault(name, [])
        hooked.append((priority, len(hooked), handler))
        hooked.sort(key=lambda item: (-item[0], item[1]))
        self._rebuild(name)

    def unhook(self, name, handler):
        hooked = [h for h in self._hooked.get(name, []) if h[2] != handler]
        self._forgetSuspended(name, handler)
        if hooked:
            self._hooked[name] = hooked
        else:
            self._hooked.pop(name, None)
        self._rebuild(name)

    def suspend(self, name, handler):
        """
        Skip a hooked handler, as if unhooked, until ``resume``; it keeps its
        place among the others. For a hook with nothing to do for now (no
        blocklist on the server, no resource with carbons on): every stanza
        fires these events, and one whose handlers are all suspended costs
        its firer one dictionary miss.
        """
        suspended = self._suspended.setdefault(name, [])
        if handler not in suspended and any(h[2] == handler for h in self._hooked.get(name, ())):
            suspended.append(handler)
            self._rebuild(name)
        elif not suspended:
            del self._suspended[name]

    def resume(self, name, handler):
        """Call a suspended handler again, in its place."""
        if self._forgetSuspended(name, handler):
            self._rebuild(name)

    def _forgetSuspended(self, name, handler):
        suspended = self._suspended.get(name)
        if suspended is None or handler not in suspended:
            return False
        suspended.remove(handler)
        if not suspended:
            del self._suspended[name]
        return True

    def _rebuild(self, name):
        suspended = self._suspended.get(name, ())
        handlers = tuple(h for _, _, h in self._hooked.get(name, ()) if h not in suspended)
        if handlers:
            self.handlers[name] = handlers
        else:
            # An event nobody hooks costs its firer one dictionary miss.
            self.handlers.pop(name, None)

    def fire(self, name, *args):
        """Run the handlers in order; return the first non-None result."""
        handlers = self.handlers.get(name)
        if handlers is None:
            return None
        for handler in handlers:
            try:
                result = handler(*args)
            except Exception:
                log.err(None, "handler for event %r failed" % (name,))
                continue
            if result is not None:
                return result
        return None
