"""
A DNS server in the test process that knows one thing: the SRV record
``_xmpp-server._tcp.DOMAIN`` pointing at our s2s listener. ejabberd's
``inetrc`` names it as its only name server, so ejabberd finds a loopback
domain the way RFC 6120 §3.2 says, by SRV, with no system DNS involved.
"""

from twisted.internet import defer
from twisted.names import dns, error, server
from twisted.names.common import ResolverBase


class SRVOnly(ResolverBase):
    def __init__(self, records):
        ResolverBase.__init__(self)
        # name → (target, port)
        self.records = records

    def _lookup(self, name, cls, type, timeout):
        name = name.decode("ascii") if isinstance(name, bytes) else name
        if type == dns.SRV and name.lower() in self.records:
            target, port = self.records[name.lower()]
            answer = dns.RRHeader(name=name, type=dns.SRV, ttl=60,
                                  payload=dns.Record_SRV(0, 0, port, target, ttl=60))
            return defer.succeed(([answer], [], []))
        return defer.fail(error.DomainError(name))


class _Factory(server.DNSServerFactory):
    def _responseFromMessage(self, message, **kwargs):
        # Erlang's resolver drops a reply whose RD bit differs from its query's.
        response = server.DNSServerFactory._responseFromMessage(self, message, **kwargs)
        response.recDes = message.recDes
        return response


def startSRVServer(records):
    """Serve ``records`` on a UDP port of 127.0.0.1; returns the listening port."""
    from twisted.internet import reactor
    factory = _Factory(clients=[SRVOnly(records)])
    return reactor.listenUDP(0, dns.DNSDatagramProtocol(factory), interface="127.0.0.1")
