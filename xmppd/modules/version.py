"""Software Version (XEP-0092) of the server, answered with Wokkel's handler."""

import platform

from wokkel.generic import VersionHandler

import xmppd


class ServerVersionHandler(VersionHandler):
    """Answers for the host only: a user's own client answers for the user."""

    def __init__(self, name, version, showOS):
        VersionHandler.__init__(self, name, version)
        self.showOS = showOS

    def onVersion(self, iq):
        if "@" in iq.getAttribute("to", ""):
            return
        VersionHandler.onVersion(self, iq)

    def send(self, response):
        if self.showOS and response.getAttribute("type") == "result":
            for query in response.elements():
                query.addElement("os", content=platform.system())
        VersionHandler.send(self, response)


def handlersFor(host, options):
    return [ServerVersionHandler("xmppd", xmppd.__version__, options.show_os)]
