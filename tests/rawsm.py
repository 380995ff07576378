"""
The client's half of XEP-0198 stream management for tests/rawclient.py:
which elements count as stanzas, and the counts a session keeps.
"""

import xml.etree.ElementTree as ET

NS_CLIENT = "jabber:client"
NS_SM = "urn:xmpp:sm:3"

STANZAS = frozenset("{%s}%s" % (NS_CLIENT, name) for name in ("message", "presence", "iq"))


class StreamManagement:
    """
    The client's half of one XEP-0198 session, kept across reconnections so
    that a resumption continues the counts.

    ``inbound`` is the client's h: stanzas received since ``<enabled/>``;
    ``inboundLog`` has one entry per counted stanza (the element itself),
    so ``inboundLog[:acked]`` are the stanzas the client has acknowledged.
    ``sent`` lists the stanzas the client sent since ``<enable/>`` and
    ``serverH`` is the last h the server acknowledged: ``sent[:serverH]``
    are the client's stanzas the server has handled.
    """

    def __init__(self, resume):
        self.resume = resume
        self.id = None
        self.location = None
        self.active = False
        self.inbound = 0
        self.inboundLog = []
        self.acked = 0
        self.sent = []
        self.serverH = 0
        self.acksReceived = 0
        self.requestsAnswered = 0
        self._outParser = None
        self._outDepth = 0

    def startCountingOutbound(self):
        self._outParser = ET.XMLPullParser(events=("start", "end"))
        self._outParser.feed(b"<outbound xmlns='%s'>" % NS_CLIENT.encode())
        self._outDepth = 0

    def countOutbound(self, data):
        """Count the top-level stanzas in what the client writes (nonzas are not counted)."""
        if self._outParser is None:
            return
        data = data.replace(b"</stream:stream>", b"")
        self._outParser.feed(data)
        for event, element in self._outParser.read_events():
            if event == "start":
                self._outDepth += 1
            else:
                self._outDepth -= 1
                if self._outDepth == 1 and element.tag in STANZAS:
                    self.sent.append(element)

    def ackedSent(self):
        return self.sent[:self.serverH]

    def ackedInbound(self):
        return self.inboundLog[:self.acked]
