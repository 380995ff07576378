"""
Software Version (XEP-0092) of the server, answered with Wokkel's handler,
for the host and for an account's bare JID: that IQ is the server's to
answer (RFC 6121 §8.5.1), and it answers with its own software, the only
one it can speak for; the user's clients answer at their full JIDs.
"""

import platform

from twisted.words.protocols.jabber.xmlstream import toResponse
from wokkel.generic import NS_VERSION, VersionHandler

from xmppd.api import VERSION, accountTarget, answerOnBehalf


class ServerVersionHandler(VersionHandler):
    def __init__(self, name, version, showOS, host=None):
        VersionHandler.__init__(self, name, version)
        self.showOS = showOS
        self.host = host

    def onVersion(self, iq):
        if accountTarget(iq) is not None:
            if self.host is not None:
                answerOnBehalf(self.host, iq, self.versionResponse)
            return
        if "@" in iq.getAttribute("to", ""):
            return
        self.send(self.versionResponse(iq))
        iq.handled = True

    def versionResponse(self, iq):
        response = toResponse(iq, "result")
        query = response.addElement((NS_VERSION, "query"))
        query.addElement("name", content=self.name)
        query.addElement("version", content=self.version)
        if self.showOS:
            query.addElement("os", content=platform.system())
        return response


def handlersFor(host, options):
    return [ServerVersionHandler("xmppd", VERSION, options.show_os, host)]
