"""
Twisted's TLSMemoryBIOProtocol without ProtocolWrapper's attribute relay,
the base of xmppd's TLS layer (xmppd.tlstransport).

ProtocolWrapper relays every name it lacks to its transport with a
``__getattr__``. In CPython 3.11 a class with one takes the slow path
(``slot_tp_getattr_hook``, never specialised) for every attribute read
and method call on its instances, its own included: a login read about
330 attributes of its TLS layer, a tenth of a millisecond of the event
loop. The class here has the same methods, attributes and interfaces,
and relays by name only what a stream on direct TLS asks of the TCP
connection beneath (``RELAYED_TO_TRANSPORT``).
"""

from twisted.internet.protocol import Protocol
from twisted.protocols.tls import TLSMemoryBIOProtocol
from zope.interface import classImplements, implementedBy

# What ProtocolWrapper's __getattr__ gave a stream on direct TLS, whose
# transport the TLS layer is: the TCP connection's options and the pausing
# of its reads (a stream's read gate), none of them the wrapper's own.
RELAYED_TO_TRANSPORT = ("getTcpNoDelay", "setTcpNoDelay", "getTcpKeepAlive", "setTcpKeepAlive",
                        "loseWriteConnection", "pauseProducing", "resumeProducing",
                        "stopProducing")


def withoutRelay(wrapperClass):
    """
    ``wrapperClass``, a ProtocolWrapper, made again on Protocol with every
    name that it and its bases up to Protocol define, but ProtocolWrapper's
    ``__getattr__``; it declares the same interfaces.
    """
    namespace = {}
    for base in reversed(wrapperClass.__mro__):
        if base not in Protocol.__mro__:
            namespace.update(vars(base))
    for name in ("__getattr__", "__dict__", "__weakref__", "__module__", "__qualname__",
                 "__doc__", "__implemented__", "__provides__", "__providedBy__"):
        namespace.pop(name, None)
    rebuilt = type(wrapperClass.__name__, (Protocol,), namespace)
    classImplements(rebuilt, *implementedBy(wrapperClass).interfaces())
    return rebuilt


TLSProtocolWithoutRelay = withoutRelay(TLSMemoryBIOProtocol)


def _relay(name):
    def relay(self, *args, **kwargs):
        return getattr(self.transport, name)(*args, **kwargs)
    relay.__name__ = relay.__qualname__ = name
    relay.__doc__ = "The transport's ``%s``." % name
    return relay


def relayToTransport(protocolClass):
    """Give ``protocolClass`` the RELAYED_TO_TRANSPORT methods it does not define."""
    for name in RELAYED_TO_TRANSPORT:
        if name not in vars(protocolClass):
            setattr(protocolClass, name, _relay(name))
