"""
Entity Time (XEP-0202): the server's clock, in UTC, for the host's domain.

Clients use it to correct their own clock's offset before they show message
times. An account's bare JID is not answered: a user's time is their
client's, asked at its full JID.
"""

import datetime

from twisted.internet import defer
from twisted.words.xish import domish
from wokkel import disco
from wokkel.iwokkel import IDisco
from wokkel.subprotocols import IQHandlerMixin, XMPPHandler
from zope.interface import implementer

NS_TIME = "urn:xmpp:time"
TIME_GET = "/iq[@type='get']/time[@xmlns='%s']" % NS_TIME
# XEP-0090, deprecated but still asked by older clients (and listed by Prosody).
NS_LEGACY_TIME = "jabber:iq:time"
LEGACY_TIME_GET = "/iq[@type='get']/query[@xmlns='%s']" % NS_LEGACY_TIME


@implementer(IDisco)
class EntityTimeHandler(XMPPHandler, IQHandlerMixin):
    iqHandlers = {TIME_GET: "onTime", LEGACY_TIME_GET: "onLegacyTime"}

    def __init__(self, host, clock=None):
        XMPPHandler.__init__(self)
        self.host = host
        self.clock = clock if clock is not None else host.clock

    def connectionInitialized(self):
        self.xmlstream.addObserver(TIME_GET, self.onTimeRequest)
        self.xmlstream.addObserver(LEGACY_TIME_GET, self.onTimeRequest)

    def onTimeRequest(self, iq):
        if "@" in iq.getAttribute("to", ""):
            return
        self.handleRequest(iq)

    def now(self):
        return datetime.datetime.fromtimestamp(self.clock.seconds(), datetime.timezone.utc)

    def onTime(self, iq):
        element = domish.Element((NS_TIME, "time"))
        element.addElement("tzo", content="+00:00")
        # XEP-0082 DateTime; milliseconds let a client measure its offset.
        element.addElement("utc", content=self.now().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")
        return element

    def onLegacyTime(self, iq):
        now = self.now()
        element = domish.Element((NS_LEGACY_TIME, "query"))
        element.addElement("utc", content=now.strftime("%Y%m%dT%H:%M:%S"))
        element.addElement("tz", content="UTC")
        element.addElement("display", content=now.strftime("%a %b %d %H:%M:%S %Y"))
        return element

    def getDiscoInfo(self, requestor, target, nodeIdentifier=""):
        if nodeIdentifier or target.user:
            return defer.succeed([])
        return defer.succeed([disco.DiscoFeature(NS_TIME), disco.DiscoFeature(NS_LEGACY_TIME)])

    def getDiscoItems(self, requestor, target, nodeIdentifier=""):
        return defer.succeed([])


def handlersFor(host, options):
    return [EntityTimeHandler(host)]
