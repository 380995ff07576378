"""
Blocking Command (XEP-0191): a user's list of JIDs that may not reach them
and that they will not reach.

The lists live in memory (loaded at start, written through to storage), so
that the check on every stanza between two users waits on nothing and runs
where each stanza's fate is decided:

- a message to the user, in the recipient's lane before routing
  (``message/inbound``): neither delivered nor stored offline, and the
  sender hears ``service-unavailable`` (§3.5), as if the user did not exist;
- a stanza the user sends to a blocked JID (``client/outbound``): refused
  with ``not-acceptable`` and ``<blocked/>`` (§3.6);
- presence, both ways (``presence/inbound``, which every presence towards a
  local or remote account passes): dropped; blocking a contact also sends
  it the user's unavailable presence (§3.3);
- what the server sends on the user's behalf (PEP notifications, items
  of the user's nodes): the module answers the ``BLOCKED`` question, and
  the sender asks it.

A pattern matches as XEP-0191 §3.3 says: full JID, bare JID,
domain/resource, or domain.
"""

from twisted.python import log
from twisted.words.protocols.jabber.error import StanzaError
from twisted.words.protocols.jabber.jid import InvalidFormat, JID
from twisted.words.xish import domish
from wokkel.subprotocols import IQHandlerMixin, XMPPHandler

from xmppd.api import ACCOUNT_DELETED, BLOCKED
from xmppd.api import CLIENT_OUTBOUND as CLIENT_OUTBOUND_EVENT
from xmppd.api import MESSAGE_INBOUND as INBOUND_EVENT
from xmppd.api import PRESENCE_INBOUND, annotate, annotation, routeAsServer

NS_BLOCKING = "urn:xmpp:blocking"
NS_BLOCKING_ERRORS = "urn:xmpp:blocking:errors"
GET = "/iq[@type='get']/blocklist[@xmlns='%s']" % NS_BLOCKING
BLOCK = "/iq[@type='set']/block[@xmlns='%s']" % NS_BLOCKING
UNBLOCK = "/iq[@type='set']/unblock[@xmlns='%s']" % NS_BLOCKING
# Before carbons copy what a client sends, and before routing.
PRIORITY = 20
# Noted on the unavailable presence a block sends, which the block lets through.
NOTICE = "blocking/notice"


def patternsFor(jid):
    """What a blocklist item must be to cover ``jid`` (XEP-0191 §3.3)."""
    patterns = {jid.host, jid.userhost()}
    if jid.resource:
        patterns.add(jid.full())
        if jid.user:
            patterns.add("%s/%s" % (jid.host, jid.resource))
    return patterns


class BlockingHandler(XMPPHandler, IQHandlerMixin):
    iqHandlers = {GET: "onGet", BLOCK: "onBlock", UNBLOCK: "onUnblock"}

    def __init__(self, host, options):
        XMPPHandler.__init__(self)
        self.host = host
        self.maxItems = options.max_items
        self.lists = {}
        self.ready = None
        self._checking = True
        host.addDiscoFeature(NS_BLOCKING)

    @property
    def store(self):
        return self.host.storage.blocklist

    def connectionInitialized(self):
        for path in (GET, BLOCK, UNBLOCK):
            self.xmlstream.addObserver(path, self.handleRequest)
        events = self.host.events
        events.hook(INBOUND_EVENT, self.onInboundMessage, PRIORITY)
        events.hook(CLIENT_OUTBOUND_EVENT, self.onOutbound, PRIORITY)
        events.hook(PRESENCE_INBOUND, self.onPresence, PRIORITY)
        events.hook(ACCOUNT_DELETED, self.onAccountDeleted)
        events.hook(BLOCKED, self.onBlockedQuestion)
        self._checking = True
        self._listsChanged()
        self.ready = self.store.all()
        self.ready.addCallback(self._loaded)
        self.ready.addErrback(log.err, "could not load the blocklists")

    def _loaded(self, lists):
        domain = "@" + self.host.domain
        self.lists.update({owner: items for owner, items in lists.items()
                           if owner.endswith(domain)})
        self._listsChanged()

    def connectionLost(self, reason):
        events = self.host.events
        events.unhook(INBOUND_EVENT, self.onInboundMessage)
        events.unhook(CLIENT_OUTBOUND_EVENT, self.onOutbound)
        events.unhook(PRESENCE_INBOUND, self.onPresence)
        events.unhook(ACCOUNT_DELETED, self.onAccountDeleted)
        events.unhook(BLOCKED, self.onBlockedQuestion)
        XMPPHandler.connectionLost(self, reason)

    def onAccountDeleted(self, bareJID):
        # Its rows went with the account; a new account of that name starts empty.
        self.lists.pop(bareJID, None)
        self._listsChanged()

    def _checks(self):
        return ((INBOUND_EVENT, self.onInboundMessage), (CLIENT_OUTBOUND_EVENT, self.onOutbound),
                (PRESENCE_INBOUND, self.onPresence), (BLOCKED, self.onBlockedQuestion))

    def _listsChanged(self):
        """
        While no account of the host has a list, every check would find
        nothing: its hooks are suspended, and the stanzas of a server
        without blocklists pass no check at all.
        """
        checking = bool(self.lists)
        if checking == self._checking:
            return
        self._checking = checking
        events = self.host.events
        for name, handler in self._checks():
            if checking:
                events.resume(name, handler)
            else:
                events.suspend(name, handler)

    def blocks(self, owner, jid):
        items = self.lists.get(owner)
        return bool(items) and not items.isdisjoint(patternsFor(jid))

    def onBlockedQuestion(self, owner, jid):
        return True if self.blocks(owner, jid) else None

    # Enforcement -------------------------------------------------------------------------

    # On every message and every stanza a client sends: an account without
    # a block list (the server without any) is asked about nothing more.

    def onInboundMessage(self, message):
        if not self.lists:
            return None
        recipient = _jid(message.getAttribute("to"))
        if recipient is None or recipient.userhost() not in self.lists:
            return None
        sender = _jid(message.getAttribute("from"))
        if sender is None or not self.blocks(recipient.userhost(), sender):
            return None
        self.host.bounce(message, "service-unavailable", "cancel")
        return "blocked"

    def onOutbound(self, session, stanza):
        if session.bareJID.userhost() not in self.lists:
            return None
        to = _jid(stanza.getAttribute("to"))
        if to is None or not self.blocks(session.bareJID.userhost(), to):
            return None
        if stanza.name == "presence" or stanza.getAttribute("type") in ("error", "result"):
            return "blocked"
        reply = StanzaError("not-acceptable", "cancel").toResponse(stanza)
        reply.error.addElement((NS_BLOCKING_ERRORS, "blocked"))
        session.send(reply)
        return "blocked"

    def onPresence(self, presence):
        if not self.lists:
            return None
        sender, recipient = _jid(presence.getAttribute("from")), _jid(presence.getAttribute("to"))
        if sender is None or recipient is None:
            return None
        if self.blocks(recipient.userhost(), sender) or self.blocks(sender.userhost(), recipient):
            # The unavailable that blocking itself sends is the one exception.
            if not annotation(presence, NOTICE, False):
                return "blocked"
        return None

    # The protocol (§3) --------------------------------------------------------------------

    def _owner(self, iq):
        sender = JID(iq["from"])
        to = iq.getAttribute("to")
        if to and JID(to).userhostJID() != sender.userhostJID():
            raise StanzaError("forbidden", "auth", "a blocklist is its owner's alone")
        return sender

    def onGet(self, iq):
        owner = self._owner(iq)
        session = self.host.sessions.get(owner)
        if session is not None:
            session.wantsBlocklistPushes = True
        reply = domish.Element((NS_BLOCKING, "blocklist"))
        for item in sorted(self.lists.get(owner.userhost(), ())):
            reply.addElement("item")["jid"] = item
        return reply

    async def onBlock(self, iq):
        owner = self._owner(iq)
        items = _items(iq.block)
        if not items:
            raise StanzaError("bad-request", "modify", "block at least one JID")
        account = owner.userhost()
        current = self.lists.setdefault(account, set())
        self._listsChanged()
        new = [i for i in items if i not in current]
        if len(current) + len(new) > self.maxItems:
            raise StanzaError("resource-constraint", "wait",
                              "at most %d blocked JIDs" % self.maxItems)
        await self.store.add(account, new)
        current.update(new)
        for item in new:
            self._sendUnavailableTo(owner.userhostJID(), item)
        self._push("block", account, new)

    async def onUnblock(self, iq):
        owner = self._owner(iq)
        account = owner.userhost()
        items = _items(iq.unblock)
        current = self.lists.get(account, set())
        gone = sorted(current) if not items else [i for i in items if i in current]
        await self.store.remove(account, None if not items else gone)
        current.difference_update(gone)
        if not current:
            self.lists.pop(account, None)
            self._listsChanged()
        self._push("unblock", account, gone if items else [])

    def _sendUnavailableTo(self, owner, item):
        target = _jid(item)
        if target is None or not target.user:
            return
        for session in self.host.sessions.resources(owner):
            if session.available:
                presence = domish.Element((None, "presence"))
                presence["from"] = session.jid.full()
                presence["to"] = item
                presence["type"] = "unavailable"
                annotate(presence, NOTICE, True)
                routeAsServer(self.host, presence)

    def _push(self, kind, account, items):
        """§3.2: every resource that asked for the blocklist hears of the change."""
        for session in self.host.sessions.resources(account):
            if not getattr(session, "wantsBlocklistPushes", False):
                continue
            push = domish.Element((None, "iq"))
            push.attributes.update({"type": "set", "id": "push-%s" % id(push),
                                    "to": session.jid.full()})
            change = push.addElement((NS_BLOCKING, kind))
            for item in items:
                change.addElement("item")["jid"] = item
            session.send(push)


def _items(element):
    items = []
    for child in element.elements():
        if child.name != "item":
            continue
        jid = _jid(child.getAttribute("jid"))
        if jid is None:
            raise StanzaError("jid-malformed", "modify", "not a JID: %r" % child.getAttribute("jid"))
        items.append(jid.full())
    return items


def _jid(text):
    if not text:
        return None
    try:
        return JID(text)
    except (InvalidFormat, UnicodeError, ValueError):
        return None


def handlersFor(host, options):
    return [BlockingHandler(host, options)]
