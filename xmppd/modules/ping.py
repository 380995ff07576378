"""
XMPP Ping (XEP-0199): the server answers pings to itself and, on the
account's behalf, to an account's bare JID (XEP-0199 §4.2 lets a client
ping its own account; Profanity's /ping without a target sends no ``to``,
which means the sender's own bare JID, RFC 6120 §10.3.3).
"""

from wokkel.ping import PingHandler
from wokkel.subprotocols import XMPPHandler
from twisted.words.protocols.jabber.xmlstream import toResponse

from xmppd.api import accountTarget, answerOnBehalf


class HostPingHandler(PingHandler):
    """Answers pings to the host and to its accounts' bare JIDs."""

    def __init__(self, host=None):
        XMPPHandler.__init__(self)
        self.host = host

    def onPing(self, iq):
        if accountTarget(iq) is not None:
            if self.host is not None:
                answerOnBehalf(self.host, iq, lambda iq: toResponse(iq, "result"))
            return
        attributes = iq.attributes
        if "@" in attributes.get("to", ""):
            return
        # A local client's ping (a client's keepalive, every login of the
        # benchmark's) is answered into its session, not routed back to it.
        sender = attributes.get("from")
        session = self.host.sessions.sessionFor(sender) if self.host and sender else None
        if session is None:
            return PingHandler.onPing(self, iq)
        iq.handled = True
        session.sendResult(iq)


def handlersFor(host, options):
    return [HostPingHandler(host)]
