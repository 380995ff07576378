"""
Personal Eventing Protocol (XEP-0163): the module ``pep``.

The story of one node, say alice's OMEMO device list:

1. alice publishes to ``eu.siacs.conversations.axolotl.devicelist`` on her
   own bare JID; the first publish creates the node with the defaults and
   her publish-options (``service``, ``nodes``), later publish-options are
   preconditions;
2. the item goes to every available resource that wants it: hers, and her
   contacts' with a presence subscription, each whose XEP-0115 caps carry
   ``…devicelist+notify`` (``caps``, ``audience``);
3. when bob comes online (or his caps change), he gets the last item of
   each node of alice's — and of his own — that he may see and wants;
4. a contact on another server is a contact too: its resources' presence
   to alice's bare JID tells which of them are available and what their
   caps want (``remote``), so they are notified and get the last items the
   same way, over s2s.

Who may see what is the node's access model (``audience``), and nobody
alice blocked (XEP-0191) sees anything; the bounds are ``[modules.pep]``:
items per node, nodes per account, item size, and the size of the caps
cache.
"""

from twisted.internet import defer
from twisted.python import log
from twisted.words.protocols.jabber.jid import JID
from wokkel.subprotocols import XMPPHandler

from xmppd.api import (
    PRESENCE_UPDATED, RESOURCE_AVAILABLE, RESOURCE_UNAVAILABLE, RESOURCE_UNBOUND)
from xmppd.api import capsOf
from xmppd.pep.audience import Audience
from xmppd.pep.caps import ClientCaps, notifyNodes
from xmppd.pep.remote import RemoteResources
from xmppd.pep.service import PEPService

# Presence from other servers, as the presence module hands it on; after
# the blocking module (priority 20) dropped what a blocklist refuses.
INBOUND_PRESENCE = "presence/inbound"


class LastItems(XMPPHandler):
    """
    XEP-0163 §4.3.2: a resource that comes online, or announces new
    ``+notify`` interests, gets the last item of each node it may see and
    wants, of its own account and of the local contacts it is subscribed to;
    a remote contact's resource, whose presence reaches a local account,
    gets the account's.
    """

    def __init__(self, host, service, caps, remote):
        XMPPHandler.__init__(self)
        self.host = host
        self.service = service
        self.caps = caps
        self.remote = remote
        self._hooks = [(RESOURCE_AVAILABLE, self.onAvailable),
                       (PRESENCE_UPDATED, self.onUpdated),
                       (RESOURCE_UNAVAILABLE, self.onGone),
                       (RESOURCE_UNBOUND, self.onGone),
                       (INBOUND_PRESENCE, self.onInboundPresence)]

    def connectionInitialized(self):
        for name, handler in self._hooks:
            self.host.events.hook(name, handler)

    def connectionLost(self, reason):
        for name, handler in self._hooks:
            self.host.events.unhook(name, handler)
        XMPPHandler.connectionLost(self, reason)

    def onAvailable(self, session):
        # Most resources come online wanting nothing (no caps, or caps
        # without +notify): known at once, that costs no generator and no
        # Deferreds.
        features = self.caps.resolvedNow(session.jid.full(), capsOf(session.presence))
        if features is not None and not notifyNodes(features):
            return
        self._watch(self.sendWanted(session, NOTHING_BEFORE))

    def onUpdated(self, session):
        before = notifyNodes(self.caps.features(session.jid.full()))
        self._watch(self.sendWanted(session, before))

    def onGone(self, session):
        self.forget(session.jid.full())

    def forget(self, jid):
        self.caps.forget(jid)
        self.service.forget(jid)

    def _watch(self, d):
        d.addErrback(log.err, "pep: sending last published items failed")

    @defer.inlineCallbacks
    def sendWanted(self, session, before):
        features = yield self.caps.resolve(session)
        wanted = notifyNodes(features) - before
        if not wanted or not session.available:
            return
        account = session.bareJID.full()
        audience = self.service.audience
        owners = [account] + (yield audience.publishersFor(account))
        for owner in owners:
            yield self.sendLastItems(owner, account, session.jid.full(), wanted)

    @defer.inlineCallbacks
    def sendLastItems(self, owner, requester, target, wanted, subscribers=None):
        """The last item of each of ``owner``'s ``wanted`` nodes ``requester`` may see."""
        audience = self.service.audience
        for node, config in (yield self.service.store.nodes(owner)):
            if node not in wanted:
                continue
            if config.get("send_last_published_item") != "on_sub_and_presence":
                continue
            if owner != requester and subscribers is None:
                subscribers = yield audience.subscribersOf(owner)
            allowed = yield audience.mayAccess(owner, requester, node, config, subscribers)
            if allowed:
                yield self.service.sendLastItem(owner, node, target)

    # Contacts on other servers ------------------------------------------------------

    def onInboundPresence(self, presence):
        # The presence module fires this for presence with a from and a to, both JIDs.
        sender, to = JID(presence["from"]), JID(presence["to"])
        if not sender.resource or self.host.isLocalDomain(sender.host) or to.resource:
            return None
        account, jid = to.userhost(), sender.full()
        kind = presence.getAttribute("type")
        caps = capsOf(presence) if kind is None else None
        if caps is None:
            if kind in (None, "unavailable", "error") and self.remote.unavailable(account, jid):
                self.forget(jid)
            return None
        previous, dropped = self.remote.available(account, jid, caps)
        for gone in dropped:
            self.forget(gone)
        if previous != caps:
            before = notifyNodes(self.caps.featuresFor(jid, previous))
            self._watch(self.sendWantedRemote(account, jid, caps, before))
        return None

    @defer.inlineCallbacks
    def sendWantedRemote(self, account, jid, caps, before):
        audience = self.service.audience
        subscribers = yield audience.subscribersOf(account)
        contact = JID(jid).userhost()
        if contact not in subscribers:
            # Not allowed to see the account's presence: nothing for it, nor kept.
            if self.remote.capsFor(account, jid) == caps and self.remote.unavailable(account, jid):
                self.forget(jid)
            return
        features = yield self.caps.resolveCaps(jid, caps)
        wanted = notifyNodes(features) - before
        if wanted and self.remote.capsFor(account, jid) == caps:
            yield self.sendLastItems(account, contact, jid, wanted, subscribers)


NOTHING_BEFORE = frozenset()


def handlersFor(host, options):
    remote = RemoteResources()
    caps = ClientCaps(host, options.caps_cache_size, remote=remote)
    store = host.storage.pep
    service = PEPService(host, options, store, Audience(host, store, caps, remote))
    return [caps, service, LastItems(host, service, caps, remote)]
