"""
The ``digest`` module: count, per sender, the messages stored offline for
each account, and offer the counts to other modules as ``IDigest``.

The offline module decides what is stored and says so with
``OFFLINE_STORED``; this module only keeps the tally.
"""

from twisted.python import log
from zope.interface import implementer

from xmppd.api import JID, OFFLINE_STORED, XMPPHandler

from xmppd_digest.interfaces import IDigest


def bare(jid):
    return JID(str(jid)).userhost()


@implementer(IDigest)
class Digest(XMPPHandler):
    def __init__(self, host):
        XMPPHandler.__init__(self)
        self.host = host
        # Declared as provides=(IDigest,): start-up checks that it is here.
        host.provide(IDigest, self)

    @property
    def store(self):
        return self.host.storage.digest

    def connectionInitialized(self):
        self.host.events.hook(OFFLINE_STORED, self.onOfflineStored)

    def connectionLost(self, reason):
        self.host.events.unhook(OFFLINE_STORED, self.onOfflineStored)
        XMPPHandler.connectionLost(self, reason)

    def onOfflineStored(self, offlineMessage, rowId):
        recipient = bare(offlineMessage.recipient)
        sender = bare(offlineMessage.stanza["from"])
        storedAt = int(self.host.clock.seconds() * 1_000_000)
        # Right behind the store that fired the event, ahead of a delivery
        # or a take already waiting in the lane: the count belongs with the
        # message, and a login that arrives meanwhile sees both or neither.
        d = self.host.lanes.runNext(recipient, self.store.count, recipient, sender, storedAt)
        d.addErrback(log.err, "digest: counting a message for %s failed" % recipient)
        # Returns None: OFFLINE_STORED goes on to its other hooks (MAM).

    # IDigest --------------------------------------------------------------------

    def senders(self, account):
        return self.host.lanes.run(account, self.store.senders, account)

    def take(self, account):
        return self.host.lanes.run(account, self.store.take, account)
