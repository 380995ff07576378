"""
The ``digest_notice`` module: when an account comes online, one headline
sums up what waited for it ("While you were away: 3 messages from
alice@example.org and 1 from bob@example.org.").

It knows nothing of how the digest is kept: it asks the ``digest``
module's service, ``IDigest``, which its ``depends=("digest",)`` guarantees.
"""

import weakref

from prometheus_client import Counter
from twisted.python import log
from twisted.words.xish import domish

from xmppd.api import RESOURCE_AVAILABLE, XMPPHandler

from xmppd_digest.interfaces import IDigest

# One counter per metrics registry: handlersFor runs once per virtual host,
# and a registry refuses a name twice.
_noticesSent = weakref.WeakKeyDictionary()


def noticesSent(registry):
    counter = _noticesSent.get(registry)
    if counter is None:
        counter = _noticesSent[registry] = Counter(
            "xmppd_digest_notices_sent", "While-you-were-away headlines sent at login",
            registry=registry)
    return counter


def awayText(senders, named):
    """The notice for a digest (most messages first), naming ``named`` senders at most."""
    shown, others = senders[:named], senders[named:]
    parts = ["%d message%s from %s" % (shown[0].messages, "" if shown[0].messages == 1 else "s",
                                       shown[0].jid)]
    parts += ["%d from %s" % (sender.messages, sender.jid) for sender in shown[1:]]
    if others:
        parts.append("%d from %d other%s" % (sum(s.messages for s in others), len(others),
                                             "" if len(others) == 1 else "s"))
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return "While you were away: %s." % listed


class DigestNotice(XMPPHandler):
    def __init__(self, host, options):
        XMPPHandler.__init__(self)
        self.host = host
        self.options = options
        # Built after the digest module's handlers (the load order follows
        # depends=), so its service is there.
        self.digest = host.service(IDigest)
        self.sent = noticesSent(host.metricsRegistry)

    def connectionInitialized(self):
        self.host.events.hook(RESOURCE_AVAILABLE, self.onAvailable)

    def connectionLost(self, reason):
        self.host.events.unhook(RESOURCE_AVAILABLE, self.onAvailable)
        XMPPHandler.connectionLost(self, reason)

    def onAvailable(self, session):
        if session.priority < 0:
            # Not a resource that gets the stored messages (RFC 6121
            # §8.5.2.1.1): the digest waits for one that does.
            return
        d = self.digest.take(session.bareJID.userhost())
        d.addCallback(self.notify, session)
        d.addErrback(log.err, "digest_notice: the digest of %s failed" % session.jid.full())
        # Returns None: offline delivery still runs on this event.

    def notify(self, senders, session):
        if not senders:
            return
        message = domish.Element((None, "message"))
        message["to"] = session.jid.full()
        message["type"] = "headline"
        message.addElement("body", content=awayText(senders, self.options.max_senders))
        # Routed in the account's lane like any message: it arrives after
        # the stored messages that the delivery queued ahead of the take.
        self.host.send(message)
        self.sent.inc()
