"""
Entity Capabilities (XEP-0115) of the server, in the stream features.

A client that sees ``<c ver=…/>`` after TLS and after binding knows what
the host's disco#info holds without asking, or asks once per ``ver`` and
caches it (§6.3 lets a server advertise its caps so). ``ver`` is the §5.1
hash over exactly what disco#info on the domain answers, and disco#info on
the node ``NODE#ver`` answers the same (§6.2), as clients check.
"""

import base64
import hashlib

from twisted.internet import defer
from twisted.words.xish import domish
from wokkel import disco
from wokkel.iwokkel import IDisco
from wokkel.subprotocols import XMPPHandler
from zope.interface import implementer

NS_CAPS = "http://jabber.org/protocol/caps"
NODE = "urn:xmppd:caps"


def verificationString(info):
    """XEP-0115 §5.1: identities, then features, each sorted, '<'-terminated."""
    identities = sorted((i.category, i.type, getattr(i, "lang", None) or "", i.name or "")
                        for i in info if isinstance(i, disco.DiscoIdentity))
    features = sorted({str(f) for f in info if isinstance(f, disco.DiscoFeature)})
    parts = ["%s/%s/%s/%s<" % identity for identity in identities]
    parts += ["%s<" % feature for feature in features]
    return "".join(parts)


def capsHash(info):
    digest = hashlib.sha1(verificationString(info).encode("utf-8")).digest()
    return base64.b64encode(digest).decode("ascii")


@implementer(IDisco)
class ServerCapsHandler(XMPPHandler):
    def __init__(self, host):
        XMPPHandler.__init__(self)
        self.host = host
        self._info = None

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
        return self._info

    def capsElement(self):
        info = self.hostInfo()
        if info is None:
            return None
        c = domish.Element((NS_CAPS, "c"))
        c["hash"] = "sha-1"
        c["node"] = NODE
        c["ver"] = capsHash(info)
        return c

    def getDiscoInfo(self, requestor, target, nodeIdentifier=""):
        info = self.hostInfo()
        if target.user or not nodeIdentifier or info is None:
            return defer.succeed([])
        if nodeIdentifier != "%s#%s" % (NODE, capsHash(info)):
            return defer.succeed([])
        return defer.succeed(list(info))

    def getDiscoItems(self, requestor, target, nodeIdentifier=""):
        return defer.succeed([])


def handlersFor(host, options):
    return [ServerCapsHandler(host)]
