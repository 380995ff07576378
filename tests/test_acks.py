"""
The acknowledgement probe a session writes as text, in the same write as
the offline rows it follows: the very bytes the stream's serialiser wrote
for the probe element, whatever the JIDs hold.
"""

from twisted.words.xish import domish

from xmppd.acks import ACK_PROBE_ID, NS_ACK_PROBE, probeXML
from xmppd.c2s.serialize import toXml


def test_the_probe_text_is_what_the_stream_wrote_for_the_probe_element():
    probeId = ACK_PROBE_ID % 7
    to = "o'neil&co@example.org/<desk>\""
    iq = domish.Element((None, "iq"))
    iq.attributes.update({"type": "get", "id": probeId, "from": "example.org", "to": to})
    iq.addElement((NS_ACK_PROBE, "query"))
    assert probeXML(probeId, "example.org", to) == toXml(iq, "jabber:client", {})
