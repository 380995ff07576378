"""
Offline storage on a host (XEP-0160), the story in the order it happens:

1. the message router finds nobody online and fires ``message/offline``;
   this module takes it at priority 0 (AMP, when it has rules, takes it
   first and calls ``host.offline`` itself) and decides, then commits;
2. a resource that becomes a delivery target gets the stored messages;
3. a periodic sweep deletes what expired.

``offline_stub`` is the other answer to step 1 while storage is off: drop
silently instead of the router's "Bounce offline message".
"""

from wokkel.subprotocols import XMPPHandler

from xmppd.api import MESSAGE_OFFLINE

from xmppd.offline.delivery import Delivery
from xmppd.offline.expiry import sweeperFor
from xmppd.offline.service import DisabledOffline, OfflineService

OFFLINE_EVENT = MESSAGE_OFFLINE
FEATURE = "msgoffline"


class OfflineHandler(XMPPHandler):
    def __init__(self, host, options, clock=None):
        XMPPHandler.__init__(self)
        self.host = host
        self.service = OfflineService(host, options, clock)
        self.service.delivery = Delivery(self.service)
        self.service.sweeper = sweeperFor(host.server, self.service)
        host.offline = self.service
        host.addDiscoFeature(FEATURE)

    def connectionInitialized(self):
        events = self.host.events
        delivery = self.service.delivery
        events.hook(OFFLINE_EVENT, self.service.onOfflineMessage, 0)
        events.hook("resource-available", delivery.onResourceAvailable)
        events.hook("priority-changed", delivery.onPriorityChanged)
        events.hook("resource-unbound", delivery.onResourceUnbound)
        events.hook("resource-resumed", delivery.onResourceResumed)
        self.service.sweeper.acquire()

    def connectionLost(self, reason):
        events = self.host.events
        delivery = self.service.delivery
        events.unhook(OFFLINE_EVENT, self.service.onOfflineMessage)
        events.unhook("resource-available", delivery.onResourceAvailable)
        events.unhook("priority-changed", delivery.onPriorityChanged)
        events.unhook("resource-unbound", delivery.onResourceUnbound)
        events.unhook("resource-resumed", delivery.onResourceResumed)
        self.service.sweeper.release()
        XMPPHandler.connectionLost(self, reason)


def handlersFor(host, options):
    return [OfflineHandler(host, options)]


class OfflineStub(XMPPHandler):
    """Takes offline messages and drops them (SPEC §2 rule 2, the stub)."""

    def __init__(self, host):
        XMPPHandler.__init__(self)
        self.host = host
        host.offline = DisabledOffline(host, stub=True)

    def connectionInitialized(self):
        self.host.events.hook(OFFLINE_EVENT, self.onOfflineMessage, 0)

    def connectionLost(self, reason):
        self.host.events.unhook(OFFLINE_EVENT, self.onOfflineMessage)
        XMPPHandler.connectionLost(self, reason)

    def onOfflineMessage(self, offlineMessage):
        from xmppd.offline.metrics import metricsFor
        metricsFor(self.host.server).dropped.labels("disabled").inc()
        return "dropped"


def stubHandlersFor(host, options):
    if host.config.modules["offline"].enabled:
        # Storage is on: the stub has nothing to do.
        return []
    return [OfflineStub(host)]
