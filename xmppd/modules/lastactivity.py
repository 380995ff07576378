"""
Last Activity (XEP-0012).

- To the host's domain: the server's uptime (§5), in seconds.
- To an account's bare JID (§4): how long ago its last resource went
  offline; ``0`` while it has an available resource. Only the account itself and contacts with
  a presence subscription to it may ask (``forbidden`` for anyone else),
  since the answer says as much as presence does. An account that never
  logged out has nothing to tell: ``item-not-found``.

Logouts are recorded on ``resource-unavailable`` when no other resource of
the account remains available.
"""

import time

from twisted.internet import defer
from twisted.python import log
from twisted.words.protocols.jabber.error import StanzaError
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish
from wokkel import disco
from wokkel.iwokkel import IDisco
from wokkel.subprotocols import IQHandlerMixin, XMPPHandler
from zope.interface import implementer

from xmppd.api import RESOURCE_UNAVAILABLE, accountTarget, isForAccount

NS_LAST = "jabber:iq:last"
LAST_GET = "/iq[@type='get']/query[@xmlns='%s']" % NS_LAST


@implementer(IDisco)
class LastActivityHandler(XMPPHandler, IQHandlerMixin):
    iqHandlers = {LAST_GET: "onLast"}

    def __init__(self, host, clock=time):
        XMPPHandler.__init__(self)
        self.host = host
        self.clock = clock
        self.startedAt = clock.time()

    def connectionInitialized(self):
        self.xmlstream.addObserver(LAST_GET, self.handleRequest)
        self.host.events.hook(RESOURCE_UNAVAILABLE, self.onResourceUnavailable)

    def connectionLost(self, reason):
        self.host.events.unhook(RESOURCE_UNAVAILABLE, self.onResourceUnavailable)

    def onResourceUnavailable(self, session):
        account = session.bareJID.userhost()
        if self.host.sessions.availableResources(account):
            return
        # The event carries the session only, not the unavailable presence,
        # so no status text is recorded.
        d = self.host.storage.lastActivity.set(account, self.clock.time())
        d.addErrback(log.err, "recording the last activity of %s" % account)

    async def onLast(self, iq):
        account = accountTarget(iq)
        if account is None:
            if "@" in iq.getAttribute("to", ""):
                raise StanzaError("service-unavailable", "cancel")
            return _query(self.clock.time() - self.startedAt)
        bare = account.userhost()
        if not await self.host.isLocalUser(account):
            raise StanzaError("service-unavailable", "cancel")
        requester = JID(iq["from"]).userhost()
        if requester != bare and not await self._subscribed(bare, requester):
            raise StanzaError("forbidden", "auth",
                              "only contacts subscribed to this account's presence may ask")
        if self.host.sessions.availableResources(bare):
            return _query(0)
        last = await self.host.storage.lastActivity.get(bare)
        if last is None:
            raise StanzaError("item-not-found", "cancel", "this account never logged out")
        logoutAt, status = last
        return _query(self.clock.time() - logoutAt, status)

    def _subscribed(self, owner, contact):
        return self.host.rosters.sharesPresenceWith(owner, contact)

    def getDiscoInfo(self, requestor, target, nodeIdentifier=""):
        if nodeIdentifier or (target.user and not isForAccount(target)):
            return defer.succeed([])
        return defer.succeed([disco.DiscoFeature(NS_LAST)])

    def getDiscoItems(self, requestor, target, nodeIdentifier=""):
        return defer.succeed([])


def _query(seconds, status=""):
    query = domish.Element((NS_LAST, "query"))
    query["seconds"] = str(max(0, int(seconds)))
    if status:
        query.addContent(status)
    return query


def handlersFor(host, options):
    return [LastActivityHandler(host)]
