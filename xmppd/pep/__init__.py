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
   each node of alice's — and of his own — that he may see and wants.

Who may see what is the node's access model (``audience``); the bounds are
``[modules.pep]``: items per node, nodes per account, item size, and the
size of the caps cache.
"""

from twisted.internet import defer
from twisted.python import log
from wokkel.subprotocols import XMPPHandler

from xmppd.api import (
    PRESENCE_UPDATED, RESOURCE_AVAILABLE, RESOURCE_UNAVAILABLE, RESOURCE_UNBOUND)
from xmppd.pep.audience import Audience
from xmppd.pep.caps import ClientCaps, notifyNodes
from xmppd.pep.service import PEPService


class LastItems(XMPPHandler):
    """
    XEP-0163 §4.3.2: a resource that comes online, or announces new
    ``+notify`` interests, gets the last item of each node it may see and
    wants, of its own account and of the local contacts it is subscribed to.
    """

    def __init__(self, host, service, caps):
        XMPPHandler.__init__(self)
        self.host = host
        self.service = service
        self.caps = caps
        self._hooks = [(RESOURCE_AVAILABLE, self.onAvailable),
                       (PRESENCE_UPDATED, self.onUpdated),
                       (RESOURCE_UNAVAILABLE, self.onGone),
                       (RESOURCE_UNBOUND, self.onGone)]

    def connectionInitialized(self):
        for name, handler in self._hooks:
            self.host.events.hook(name, handler)

    def connectionLost(self, reason):
        for name, handler in self._hooks:
            self.host.events.unhook(name, handler)
        XMPPHandler.connectionLost(self, reason)

    def onAvailable(self, session):
        self._watch(self.sendWanted(session, NOTHING_BEFORE))

    def onUpdated(self, session):
        before = notifyNodes(self.caps.features(session.jid.full()))
        self._watch(self.sendWanted(session, before))

    def onGone(self, session):
        self.caps.forget(session.jid.full())
        self.service.forget(session.jid.full())

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
            subscribers = None
            for node, config in (yield self.service.store.nodes(owner)):
                if node not in wanted:
                    continue
                if config.get("send_last_published_item") != "on_sub_and_presence":
                    continue
                if owner != account and subscribers is None:
                    subscribers = yield audience.subscribersOf(owner)
                allowed = yield audience.mayAccess(owner, account, node, config, subscribers)
                if allowed:
                    yield self.service.sendLastItem(owner, node, session.jid.full())


NOTHING_BEFORE = frozenset()


def handlersFor(host, options):
    caps = ClientCaps(host, options.caps_cache_size)
    store = host.storage.pep
    service = PEPService(host, options, store, Audience(host, store, caps))
    return [caps, service, LastItems(host, service, caps)]
