"""
Service discovery (XEP-0030) for the host and, on their behalf, its accounts.

Wokkel's DiscoHandler asks every sibling handler that provides IDisco; this
module adds the server's identity and the features that modules registered
with ``host.addDiscoFeature`` without implementing IDisco themselves.
"""

from twisted.internet import defer
from wokkel import disco
from wokkel.iwokkel import IDisco
from wokkel.subprotocols import XMPPHandler
from zope.interface import implementer


@implementer(IDisco)
class HostDiscoInfo(XMPPHandler):
    def __init__(self, host):
        XMPPHandler.__init__(self)
        self.host = host

    def getDiscoInfo(self, requestor, target, nodeIdentifier=""):
        if nodeIdentifier:
            return defer.succeed([])
        if target.user:
            if target.resource:
                return defer.succeed([])
            d = self.host.isLocalUser(target)
            d.addCallback(self._accountInfo)
            return d
        info = [disco.DiscoIdentity("server", "im", "xmppd"),
                disco.DiscoFeature(disco.NS_DISCO_INFO),
                disco.DiscoFeature(disco.NS_DISCO_ITEMS)]
        info.extend(disco.DiscoFeature(ns) for ns in self.host.discoFeatures)
        return defer.succeed(info)

    def _accountInfo(self, exists):
        if not exists:
            from twisted.words.protocols.jabber.error import StanzaError
            raise StanzaError("service-unavailable")
        return [disco.DiscoIdentity("account", "registered")]

    def getDiscoItems(self, requestor, target, nodeIdentifier=""):
        return defer.succeed([])


def handlersFor(host, options):
    return [disco.DiscoHandler(), HostDiscoInfo(host)]
