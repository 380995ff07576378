"""
Private XML Storage (XEP-0049): a client keeps XML on its own account,
one element per namespace; legacy bookmarks (XEP-0048, storage:bookmarks)
are the main user.

Only the account itself may read or write it (``forbidden`` otherwise).
A request holds exactly one child element with a namespace of its own; a
``jabber:*`` namespace is refused (§3), since those belong to the protocol.
Sizes are bounded: each element by ``max_element_size``, the number of
namespaces an account may keep by ``max_namespaces``.
"""

from twisted.internet import defer
from twisted.words.protocols.jabber.error import StanzaError
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish
from wokkel import disco
from wokkel.iwokkel import IDisco
from wokkel.subprotocols import IQHandlerMixin, XMPPHandler
from zope.interface import implementer

from xmppd.api import PrivateStorageFull

NS_PRIVATE = "jabber:iq:private"
PRIVATE_GET = "/iq[@type='get']/query[@xmlns='%s']" % NS_PRIVATE
PRIVATE_SET = "/iq[@type='set']/query[@xmlns='%s']" % NS_PRIVATE


@implementer(IDisco)
class PrivateStorageHandler(XMPPHandler, IQHandlerMixin):
    iqHandlers = {PRIVATE_GET: "onGet", PRIVATE_SET: "onSet"}

    def __init__(self, host, maxElementSize, maxNamespaces):
        XMPPHandler.__init__(self)
        self.host = host
        self.maxElementSize = maxElementSize
        self.maxNamespaces = maxNamespaces

    def connectionInitialized(self):
        self.xmlstream.addObserver(PRIVATE_GET, self.handleRequest)
        self.xmlstream.addObserver(PRIVATE_SET, self.handleRequest)

    def _request(self, iq):
        """The account and the single element of a request, checked."""
        sender = JID(iq["from"]).userhostJID()
        to = iq.getAttribute("to")
        if to is not None and JID(to) != sender:
            raise StanzaError("forbidden", "auth",
                              "private XML can be read and written only on your own account")
        children = [c for c in iq.query.elements()]
        if len(children) != 1:
            raise StanzaError("bad-request", "modify", "expected exactly one child element")
        element = children[0]
        if not element.uri or element.uri == NS_PRIVATE or element.uri.startswith("jabber:"):
            raise StanzaError("not-acceptable", "modify",
                              "the element needs a namespace of its own, not jabber:*")
        return sender.userhost(), element

    async def onGet(self, iq):
        account, element = self._request(iq)
        stored = await self.host.storage.privateXML.get(account, element.uri)
        query = domish.Element((NS_PRIVATE, "query"))
        if stored is None:
            # §3.2: nothing stored yet answers with the empty element asked for.
            query.addChild(domish.Element((element.uri, element.name)))
        else:
            query.addRawXml(stored)
        return query

    async def onSet(self, iq):
        account, element = self._request(iq)
        xml = element.toXml()
        if len(xml.encode("utf-8")) > self.maxElementSize:
            raise StanzaError("not-acceptable", "modify",
                              "private XML elements are limited to %d bytes"
                              % self.maxElementSize)
        try:
            await self.host.storage.privateXML.set(account, element.uri, xml, self.maxNamespaces)
        except PrivateStorageFull:
            raise StanzaError("resource-constraint", "wait",
                              "an account keeps at most %d namespaces" % self.maxNamespaces)
        return None

    def getDiscoInfo(self, requestor, target, nodeIdentifier=""):
        if nodeIdentifier or target.user:
            return defer.succeed([])
        return defer.succeed([disco.DiscoFeature(NS_PRIVATE)])

    def getDiscoItems(self, requestor, target, nodeIdentifier=""):
        return defer.succeed([])


def handlersFor(host, options):
    return [PrivateStorageHandler(host, options.max_element_size, options.max_namespaces)]
