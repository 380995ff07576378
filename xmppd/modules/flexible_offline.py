"""
Flexible Offline Message Retrieval (XEP-0013) over the offline queue.

A client asks how many messages wait (disco#info on the node
``http://jabber.org/protocol/offline``), lists their headers (disco#items
on it: one item per message, its node the row's id), and then views,
removes, fetches or purges them with the ``<offline/>`` IQ. A client that
asks either disco question gets no offline flood at its initial presence
in this session (§2.4: "the server MUST NOT send a flood of offline
messages"): the offline service is told to stop the flood for that
session (``IOfflineService.stopFlood``). Viewing or fetching does not delete (§2.5, §2.7);
removing and purging do.
"""

from twisted.internet import defer
from twisted.words.protocols.jabber.error import StanzaError
from twisted.words.protocols.jabber.jid import JID
from wokkel import data_form, disco
from wokkel.generic import parseXml
from wokkel.iwokkel import IDisco
from wokkel.subprotocols import IQHandlerMixin, XMPPHandler
from zope.interface import implementer

from xmppd.api import IOfflineService

NS_OFFLINE = "http://jabber.org/protocol/offline"
OFFLINE_GET = "/iq[@type='get']/offline[@xmlns='%s']" % NS_OFFLINE
OFFLINE_SET = "/iq[@type='set']/offline[@xmlns='%s']" % NS_OFFLINE
# The offline limits bound a queue well below this; one read covers it.
MAX_QUEUE = 100_000


@implementer(IDisco)
class FlexibleOfflineHandler(XMPPHandler, IQHandlerMixin):
    iqHandlers = {OFFLINE_GET: "onView", OFFLINE_SET: "onRemove"}

    def __init__(self, host):
        XMPPHandler.__init__(self)
        self.host = host
        host.addDiscoFeature(NS_OFFLINE)

    def connectionInitialized(self):
        self.xmlstream.addObserver(OFFLINE_GET, self.handleRequest)
        self.xmlstream.addObserver(OFFLINE_SET, self.handleRequest)

    @property
    def offline(self):
        offline = self.host.optionalService(IOfflineService)
        if offline is None or not offline.enabled:
            raise StanzaError("feature-not-implemented", text="offline storage is off")
        return offline

    def _owner(self, requestor, target=None):
        """The account asking, about itself only; its session stops the flood."""
        if requestor is None or not requestor.user:
            raise StanzaError("forbidden")
        if target is not None and target.user and target.userhost() != requestor.userhost():
            raise StanzaError("forbidden")
        session = self.host.sessions.get(requestor)
        offline = self.host.optionalService(IOfflineService)
        if session is not None and offline is not None:
            offline.stopFlood(session)
        return requestor.userhost()

    def _rows(self, owner):
        offline = self.offline
        return offline.store.fetch(owner, 0, MAX_QUEUE, offline.now())

    # Discovery: the count and the headers (§2.2, §2.3) --------------------------------

    def _ours(self, target, nodeIdentifier):
        return nodeIdentifier == NS_OFFLINE and (
            target.host == self.host.domain and not target.resource)

    def getDiscoInfo(self, requestor, target, nodeIdentifier=""):
        if not self._ours(target, nodeIdentifier):
            return defer.succeed([])
        owner = self._owner(requestor, target)
        d = self._rows(owner)

        def info(rows):
            form = data_form.Form("result", formNamespace=NS_OFFLINE, fields=[
                data_form.Field(var="number_of_messages", value=str(len(rows)))])
            return [disco.DiscoIdentity("automation", "message-list"),
                    disco.DiscoFeature(NS_OFFLINE), form]
        d.addCallback(info)
        return d

    def getDiscoItems(self, requestor, target, nodeIdentifier=""):
        if not self._ours(target, nodeIdentifier):
            return defer.succeed([])
        owner = self._owner(requestor, target)
        d = self._rows(owner)

        def items(rows):
            return [disco.DiscoItem(requestor, str(rowId), _sender(xml, sender))
                    for rowId, sender, xml in rows]
        d.addCallback(items)
        return d

    # The <offline/> IQ (§2.4–§2.8) -----------------------------------------------------

    def onView(self, iq):
        sender = JID(iq["from"])
        owner = self._owner(sender, _to(iq))
        request = iq.offline
        return defer.ensureDeferred(self._view(sender, owner, request))

    async def _view(self, sender, owner, request):
        fetchAll = any(True for _ in request.elements(NS_OFFLINE, "fetch"))
        nodes = _nodes(request, "view")
        if not fetchAll and not nodes:
            raise StanzaError("bad-request", text="expected <fetch/> or items to view")
        rows = await self._rows(owner)
        if not fetchAll:
            byNode = {str(rowId): (rowId, s, xml) for rowId, s, xml in rows}
            missing = [node for node in nodes if node not in byNode]
            if missing:
                raise StanzaError("item-not-found", text="no offline message %s" % missing[0])
            rows = [byNode[node] for node in nodes]
        session = self.host.sessions.get(sender)
        if session is None or session.closed:
            return None
        for rowId, _sender, xml in rows:
            message = parseXml(xml.encode("utf-8"))
            message["to"] = sender.full()
            item = message.addElement((NS_OFFLINE, "offline")).addElement("item")
            item["node"] = str(rowId)
            # Past any hold, before the result that says they were all sent.
            session.write(message)
        return None

    def onRemove(self, iq):
        owner = self._owner(JID(iq["from"]), _to(iq))
        request = iq.offline
        return defer.ensureDeferred(self._remove(owner, request))

    async def _remove(self, owner, request):
        offline = self.offline
        if any(True for _ in request.elements(NS_OFFLINE, "purge")):
            await offline.store.purge(owner)
            return None
        nodes = _nodes(request, "remove")
        if not nodes:
            raise StanzaError("bad-request", text="expected <purge/> or items to remove")
        rows = await self._rows(owner)
        ids = {str(rowId): rowId for rowId, _s, _x in rows}
        missing = [node for node in nodes if node not in ids]
        if missing:
            raise StanzaError("item-not-found", text="no offline message %s" % missing[0])
        await offline.store.delete([ids[node] for node in nodes], owner)
        return None


def _to(iq):
    to = iq.getAttribute("to")
    return JID(to) if to else None


def _nodes(request, action):
    nodes = []
    for item in request.elements(NS_OFFLINE, "item"):
        if item.getAttribute("action") != action:
            raise StanzaError("bad-request", text="item action must be %r here" % action)
        node = item.getAttribute("node")
        if not node:
            raise StanzaError("bad-request", text="an item needs a node")
        nodes.append(node)
    return nodes


def _sender(xml, sender):
    """§2.3: the item's name is the sender's full JID, as the stored stanza says."""
    try:
        return parseXml(xml.encode("utf-8")).getAttribute("from") or sender
    except Exception:
        return sender


def handlersFor(host, options):
    return [FlexibleOfflineHandler(host)]
