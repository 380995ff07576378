"""
Entity Capabilities (XEP-0115) of the server, in the stream features.

A client that sees ``<c ver=…/>`` after TLS and after binding knows what
the host's disco#info holds without asking, or asks once per ``ver`` and
caches it (§6.3 lets a server advertise its caps so). ``ver`` is the §5.1
hash over exactly what disco#info on the domain answers, and disco#info on
the node ``NODE#ver`` answers the same (§6.2), as clients check.
"""

from twisted.internet import defer
from twisted.python import log
from wokkel.iwokkel import IDisco
from wokkel.subprotocols import XMPPHandler
from zope.interface import implementer

from xmppd.api import capsElement, capsVer, infoQuery

NODE = "urn:xmppd:caps"


@implementer(IDisco)
class ServerCapsHandler(XMPPHandler):
    def __init__(self, host):
        XMPPHandler.__init__(self)
        self.host = host
        self._info = None
        self._ver = None

    def connectionInitialized(self):
        self.host.addStreamFeature(self.capsElement, "pre-auth")
        self.host.addStreamFeature(self.capsElement, "bound")

    def hostInfo(self):
        """What disco#info on the domain answers, once every module is up."""
        if self._info is None:
            handlers = [h for h in self.parent if IDisco.providedBy(h) and h is not self]
            results = []
            for handler in handlers:
                d = defer.maybeDeferred(handler.getDiscoInfo, self.host.jid, self.host.jid, "")
                d.addCallbacks(results.append, lambda failure: results.append([]))
            if len(results) < len(handlers):
                # A module answers disco#info later than now: ask again next time.
                return None
            self._info = [item for result in results for item in result]
            self._ver = capsVer(infoQuery(self._info))
            if self._ver is None:
                # §5.4: clients would refuse the hash of what disco#info answers.
                log.msg("caps: the domain's disco#info has duplicate identities or"
                        " features; no caps in stream features")
        return self._info

    def capsElement(self):
        if self.hostInfo() is None or self._ver is None:
            return None
        return capsElement(NODE, self._ver)

    def getDiscoInfo(self, requestor, target, nodeIdentifier=""):
        info = self.hostInfo()
        if target.user or not nodeIdentifier or info is None or self._ver is None:
            return defer.succeed([])
        if nodeIdentifier != "%s#%s" % (NODE, self._ver):
            return defer.succeed([])
        return defer.succeed(list(info))

    def getDiscoItems(self, requestor, target, nodeIdentifier=""):
        return defer.succeed([])


def handlersFor(host, options):
    return [ServerCapsHandler(host)]
