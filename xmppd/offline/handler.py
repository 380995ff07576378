"""
Offline storage on a host (XEP-0160), the story in the order it happens:

1. the message router finds nobody online and fires ``message/offline``;
   this module takes it at priority 0 (AMP, when it has rules, takes it
   first and asks the IOfflineService itself) and decides, then commits;
2. a resource that becomes a delivery target gets the stored messages;
3. a periodic sweep deletes what expired.

The queue is this module's own store unless a module provides an
IOfflineQueue (mam's, whose rows refer to the archive); at start-up the
messages waiting in any other queue are handed over to the one in use.

``offline_stub`` is the other answer to step 1 while storage is off: drop
silently instead of the router's "Bounce offline message". Either one
provides the host's IOfflineService, the one AMP, msgoffline, XEP-0013 and
MAM ask.
"""

from wokkel.subprotocols import XMPPHandler

from xmppd.api import (
    IOfflineService, MESSAGE_OFFLINE, PRIORITY_CHANGED, RESOURCE_AVAILABLE, RESOURCE_RESUMED,
    RESOURCE_UNBOUND)

from xmppd.offline.delivery import Delivery
from xmppd.offline.expiry import sweeperFor
from xmppd.offline.handover import handoverFor
from xmppd.offline.metrics import metricsFor
from xmppd.offline.service import DisabledOffline, OfflineService

FEATURE = "msgoffline"


class OfflineHandler(XMPPHandler):
    def __init__(self, host, options, clock=None):
        XMPPHandler.__init__(self)
        self.host = host
        self.service = OfflineService(host, options, clock)
        self.service.delivery = Delivery(self.service)
        self.service.sweeper = sweeperFor(host, self.service)
        self.service.handover = handoverFor(host, self.service)
        host.provide(IOfflineService, self.service)
        host.addDiscoFeature(FEATURE)
        delivery = self.service.delivery
        self._hooks = [(MESSAGE_OFFLINE, self.service.onOfflineMessage),
                       (RESOURCE_AVAILABLE, delivery.onResourceAvailable),
                       (PRIORITY_CHANGED, delivery.onPriorityChanged),
                       (RESOURCE_UNBOUND, delivery.onResourceUnbound),
                       (RESOURCE_RESUMED, delivery.onResourceResumed)]

    def connectionInitialized(self):
        for name, handler in self._hooks:
            self.host.events.hook(name, handler, 0)
        self.service.handover.start()
        self.service.sweeper.acquire()

    def connectionLost(self, reason):
        for name, handler in self._hooks:
            self.host.events.unhook(name, handler)
        self.service.sweeper.release()
        XMPPHandler.connectionLost(self, reason)


def handlersFor(host, options):
    return [OfflineHandler(host, options)]


class OfflineStub(XMPPHandler):
    """Takes offline messages and drops them (SPEC §2 rule 2, the stub)."""

    def __init__(self, host):
        XMPPHandler.__init__(self)
        self.host = host
        host.provide(IOfflineService, DisabledOffline(host, stub=True))

    def connectionInitialized(self):
        self.host.events.hook(MESSAGE_OFFLINE, self.onOfflineMessage, 0)

    def connectionLost(self, reason):
        self.host.events.unhook(MESSAGE_OFFLINE, self.onOfflineMessage)
        XMPPHandler.connectionLost(self, reason)

    def onOfflineMessage(self, offlineMessage):
        metricsFor(self.host).dropped.labels("disabled").inc()
        return "dropped"


def stubHandlersFor(host, options):
    if host.config.modules["offline"].enabled:
        # Storage is on: the stub has nothing to do.
        return []
    return [OfflineStub(host)]
