"""
vcard-temp (XEP-0054): each account's vCard, kept by the server.

- get to an account's bare JID, by anyone: its vCard, or an empty one
  (§3.1 lets the server answer so for an account that has none).
- get or set on the own account (no ``to``, or the own bare JID): the
  account's vCard; set replaces it whole, bounded by ``max_size`` bytes.
- get to the host's domain: the server's own vCard, which is empty.

The SHA-1 of the PHOTO's BINVAL is stored beside it for XEP-0153 avatar
hashes in presence. A single server keeps the hashes it read (or set)
between an account's logins, so that a login does not read the vCard
again: every change of a vCard goes through this module. Cluster nodes
keep them only while the account has a resource on the node, as another
node may change the vCard meanwhile.
"""

import base64
import binascii
import collections
import hashlib

from twisted.internet import defer
from twisted.words.protocols.jabber.error import StanzaError
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish
from wokkel import disco
from wokkel.iwokkel import IDisco
from wokkel.subprotocols import IQHandlerMixin, XMPPHandler
from zope.interface import implementer

from xmppd.api import (
    ACCOUNT_DELETED, AVAILABLE_BROADCAST, RESOURCE_BOUND, RESOURCE_UNBOUND, accountTarget,
    isForAccount)

NS_VCARD = "vcard-temp"
NS_UPDATE = "vcard-temp:x:update"
VCARD_GET = "/iq[@type='get']/vCard[@xmlns='%s']" % NS_VCARD
VCARD_SET = "/iq[@type='set']/vCard[@xmlns='%s']" % NS_VCARD
# Accounts whose photo hash a single server keeps between logins.
KNOWN_PHOTOS = 10_000


def photoHash(vcard):
    """XEP-0153 §2: the hex SHA-1 of the photo's bytes, '' without a photo."""
    for photo in vcard.elements(NS_VCARD, "PHOTO"):
        for binval in photo.elements(NS_VCARD, "BINVAL"):
            try:
                data = base64.b64decode("".join(str(binval).split()), validate=True)
            except (binascii.Error, ValueError):
                raise StanzaError("bad-request", "modify", "the PHOTO's BINVAL is not base64")
            return hashlib.sha1(data).hexdigest() if data else ""
    return ""


@implementer(IDisco)
class VCardHandler(XMPPHandler, IQHandlerMixin):
    iqHandlers = {VCARD_GET: "onGet", VCARD_SET: "onSet"}

    def __init__(self, host, maxSize):
        XMPPHandler.__init__(self)
        self.host = host
        self.maxSize = maxSize
        # XEP-0153 photo hashes ('' for none) of accounts with a resource
        # bound -- and, on a single server, of those that had one lately --
        # read at bind, so that adding one to a presence waits on nothing.
        self.photoHashes = collections.OrderedDict()
        cluster = getattr(host.config, "cluster", None)
        self.keepBetweenLogins = cluster is None or not cluster.enabled
        # Counts vCard changes, so that a read under way during one does not
        # put the old hash back.
        self.changes = 0

    def connectionInitialized(self):
        self.xmlstream.addObserver(VCARD_GET, self.handleRequest)
        self.xmlstream.addObserver(VCARD_SET, self.handleRequest)
        events = self.host.events
        events.hook(RESOURCE_BOUND, self.onResourceBound)
        events.hook(RESOURCE_UNBOUND, self.onResourceUnbound)
        events.hook(AVAILABLE_BROADCAST, self.onBroadcast)
        events.hook(ACCOUNT_DELETED, self.onAccountDeleted)

    def connectionLost(self, reason):
        events = self.host.events
        events.unhook(RESOURCE_BOUND, self.onResourceBound)
        events.unhook(RESOURCE_UNBOUND, self.onResourceUnbound)
        events.unhook(AVAILABLE_BROADCAST, self.onBroadcast)
        events.unhook(ACCOUNT_DELETED, self.onAccountDeleted)
        XMPPHandler.connectionLost(self, reason)

    # XEP-0153: the avatar's hash in presence, as Prosody's vcard_legacy does

    def onResourceBound(self, session):
        account = session.bareJID.userhost()
        if account in self.photoHashes:
            self.photoHashes.move_to_end(account)
            return
        changes = self.changes
        d = self.host.storage.vcards.get(account)

        def remember(stored):
            if changes != self.changes or not self.host.sessions.resources(account):
                return
            self._remember(account, stored[1] if stored is not None else "")

        d.addCallbacks(remember, lambda failure: None)

    def _remember(self, account, photo):
        self.photoHashes[account] = photo or ""
        self.photoHashes.move_to_end(account)
        if self.keepBetweenLogins:
            while len(self.photoHashes) > KNOWN_PHOTOS:
                self.photoHashes.popitem(last=False)

    def onResourceUnbound(self, session):
        account = session.bareJID.userhost()
        if not self.keepBetweenLogins and not self.host.sessions.resources(account):
            self.photoHashes.pop(account, None)

    def onAccountDeleted(self, bareJID):
        self.changes += 1
        self.photoHashes.pop(bareJID, None)

    def onBroadcast(self, session, presence):
        photo = self.photoHashes.get(session.bareJID.userhost())
        if photo and not any((c.uri, c.name) == (NS_UPDATE, "x") for c in presence.elements()):
            presence.addElement((NS_UPDATE, "x")).addElement("photo", content=photo)

    async def onGet(self, iq):
        account = accountTarget(iq)
        if account is None:
            if "@" in iq.getAttribute("to", ""):
                raise StanzaError("service-unavailable", "cancel")
            return domish.Element((NS_VCARD, "vCard"))
        if not await self.host.isLocalUser(account):
            raise StanzaError("service-unavailable", "cancel")
        stored = await self.host.storage.vcards.get(account.userhost())
        if stored is None:
            return domish.Element((NS_VCARD, "vCard"))
        # Written back as stored: a list, since a SerializedXML is no IElement.
        return [domish.SerializedXML(stored[0])]

    async def onSet(self, iq):
        sender = JID(iq["from"]).userhostJID()
        to = iq.getAttribute("to")
        if to is not None and JID(to) != sender:
            raise StanzaError("forbidden", "auth", "a vCard can be set only on your own account")
        vcard = iq.vCard
        xml = vcard.toXml()
        if len(xml.encode("utf-8")) > self.maxSize:
            raise StanzaError("not-acceptable", "modify",
                              "vCards are limited to %d bytes" % self.maxSize)
        photo = photoHash(vcard)
        self.changes += 1
        try:
            await self.host.storage.vcards.set(sender.userhost(), xml, photo)
        finally:
            # Whether or not the write took, the hash kept is no longer known good.
            self.photoHashes.pop(sender.userhost(), None)
        self.changes += 1
        self._remember(sender.userhost(), photo)
        return None

    def getDiscoInfo(self, requestor, target, nodeIdentifier=""):
        if nodeIdentifier or (target.user and not isForAccount(target)):
            return defer.succeed([])
        return defer.succeed([disco.DiscoFeature(NS_VCARD)])

    def getDiscoItems(self, requestor, target, nodeIdentifier=""):
        return defer.succeed([])


def handlersFor(host, options):
    return [VCardHandler(host, options.max_size)]
