"""
Client State Indication (XEP-0352): a phone in a pocket says
``<inactive/>``, and what can wait -- presence, chat states -- waits in its
session, in order, until it says ``<active/>`` or something arrives that
cannot wait (a message with a body, an IQ), which is sent after everything
that waited: nothing is lost and nothing overtakes (``Session.send``).
"""

from twisted.words.protocols.jabber import error
from twisted.words.xish import domish
from wokkel.subprotocols import XMPPHandler

NS_CSI = "urn:xmpp:csi:0"


class ClientStateIndication(XMPPHandler):
    def __init__(self, host):
        XMPPHandler.__init__(self)
        self.host = host
        host.addStreamFeature(domish.Element((NS_CSI, "csi")), "bound")
        host.addNonzaHandler(NS_CSI, self.onNonza)

    def onNonza(self, negotiator, element):
        session = negotiator.session
        if session is None or element.name not in ("active", "inactive"):
            # §5: only a bound resource has a state to indicate.
            return negotiator.xmlstream.sendStreamError(
                error.StreamError("unsupported-stanza-type"))
        session.setInactive(element.name == "inactive")


def handlersFor(host, options):
    return [ClientStateIndication(host)]
