"""
A raw s2s peer for tests: it speaks the server side of the wire by hand,
so a test can send what a real server never would (a spoofed ``from``, a
db:result before STARTTLS) and see the exact stream error that comes back.
"""

import asyncio
import base64
import ssl
import xml.etree.ElementTree as ET

from tests.rawclient import NS_STREAMS, RawClient, q

NS_SERVER = "jabber:server"
NS_DIALBACK = "jabber:server:dialback"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"


class RawS2SPeer(RawClient):
    """An initiating server ``origin`` connecting to the receiving ``target``."""

    async def openStream(self, origin, target):
        self.origin, self.domain = origin, target
        self._reset()
        self.sendRaw("<?xml version='1.0'?><stream:stream xmlns='%s' xmlns:stream='%s' "
                     "xmlns:db='%s' from='%s' to='%s' version='1.0'>"
                     % (NS_SERVER, NS_STREAMS, NS_DIALBACK, origin, target))
        await self.expectHeader()
        self.features = await self.expect()
        assert self.features.tag == q(NS_STREAMS, "features"), ET.tostring(self.features)
        return self.features

    async def starttls(self, certificate=None):
        """STARTTLS, presenting ``certificate`` ((cert, key) paths) as the client."""
        self.sendRaw("<starttls xmlns='%s'/>" % NS_TLS)
        proceed = await self.expect()
        assert proceed.tag == q(NS_TLS, "proceed"), ET.tostring(proceed)
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        if certificate is not None:
            context.load_cert_chain(str(certificate[0]), str(certificate[1]))
        await self.writer.start_tls(context, server_hostname=self.domain)
        return await self.openStream(self.origin, self.domain)

    async def external(self):
        """SASL EXTERNAL as ``origin``; the restarted stream's features."""
        self.sendRaw("<auth xmlns='%s' mechanism='EXTERNAL'>%s</auth>" % (
            NS_SASL, base64.b64encode(self.origin.encode()).decode()))
        result = await self.expect()
        assert result.tag == q(NS_SASL, "success"), ET.tostring(result)
        return await self.openStream(self.origin, self.domain)


class FakeServer:
    """
    A listening peer that answers every stream header with ``features``
    (None: never answers) and records what it receives, to test what our
    side does with a peer that offers less than we require.
    """

    def __init__(self, features):
        self.features = features
        self.received = []
        self.closed = asyncio.get_event_loop().create_future()

    async def start(self):
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def handle(self, reader, writer):
        header = False
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                self.received.append(data)
                if not header and b"<stream:stream" in data and self.features is not None:
                    header = True
                    writer.write(("<?xml version='1.0'?><stream:stream xmlns='%s' "
                                  "xmlns:stream='%s' xmlns:db='%s' id='fake1' version='1.0'>%s"
                                  % (NS_SERVER, NS_STREAMS, NS_DIALBACK,
                                     self.features)).encode())
        except ConnectionError:
            self.received.append(b"<!-- connection reset -->")
        finally:
            writer.close()
            if not self.closed.done():
                self.closed.set_result(b"".join(self.received))

    def stop(self):
        self.server.close()
