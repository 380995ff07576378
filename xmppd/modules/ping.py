"""XMPP Ping (XEP-0199): the server answers pings to itself; Wokkel does the rest."""

from wokkel.ping import PingHandler


class HostPingHandler(PingHandler):
    """Answers pings addressed to the host; a ping to a user goes to that user."""

    def onPing(self, iq):
        to = iq.getAttribute("to", "")
        if "@" in to:
            return
        PingHandler.onPing(self, iq)


def handlersFor(host, options):
    return [HostPingHandler()]
