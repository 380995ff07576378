"""
``[c2s] reuse_port``: the client ports opened with SO_REUSEPORT, so that
several nodes on one host listen on the same port and Linux spreads the
new connections over them -- one Twisted process per core behind one
address (docs/operators.md, "Running a cluster").

Twisted's listenTCP sets no SO_REUSEPORT, so the socket is made here and
handed to the reactor with ``adoptStreamPort``.
"""

import ipaddress
import socket

from twisted.application import service

from xmppd.tlstransport import LeanTLSFactory


def reusePortSocket(interface, port, backlog=128):
    """A listening, non-blocking TCP socket with SO_REUSEPORT (and SO_REUSEADDR)."""
    family = socket.AF_INET6 if ipaddress.ip_address(interface).version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((interface, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except Exception:
        sock.close()
        raise
    return sock


class ReusePortServer(service.Service):
    """A TCP (or, with ``tlsContext``, TLS) listener on a shared port."""

    def __init__(self, port, factory, interface, tlsContext=None):
        self.portNumber = port
        self.factory = factory
        self.interface = interface
        self.tlsContext = tlsContext
        self.port = None

    def startService(self):
        service.Service.startService(self)
        from twisted.internet import reactor
        sock = reusePortSocket(self.interface, self.portNumber)
        factory = self.factory
        if self.tlsContext is not None:
            factory = LeanTLSFactory(self.tlsContext, False, factory)
        try:
            self.port = reactor.adoptStreamPort(sock.fileno(), sock.family, factory)
        finally:
            # The reactor holds its own duplicate of the descriptor.
            sock.close()

    def stopService(self):
        service.Service.stopService(self)
        if self.port is not None:
            port, self.port = self.port, None
            return port.stopListening()
