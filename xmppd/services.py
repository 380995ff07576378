"""
Services modules offer each other, found by interface (Prosody's
``module:provides``, slixmpp's plugin lookup by name).

A module that offers something registers it on its host under a zope
interface (``host.provide(IOfflineService, service)``); a module that needs
it asks the host (``host.service(IOfflineService)``) instead of reading an
attribute somebody hung on a shared object. Which module provides what is
declared on the ``Module`` (``provides=``, ``depends=``), so that start-up
can refuse, in one line, a configuration where a needed module is off.
"""


class MissingService(LookupError):
    """No enabled module provides the interface asked for."""


class ServiceRegistry:
    def __init__(self):
        self._providers = {}

    def provide(self, interface, provider):
        """Offer ``provider`` as ``interface``; it must declare that it provides it."""
        if not interface.providedBy(provider):
            raise TypeError("%r does not provide %s" % (provider, interface.__name__))
        if interface in self._providers:
            raise ValueError("%s is provided twice: by %r and by %r"
                             % (interface.__name__, self._providers[interface], provider))
        self._providers[interface] = provider

    def withdraw(self, interface, provider):
        if self._providers.get(interface) is provider:
            del self._providers[interface]

    def service(self, interface):
        """The provider of ``interface``; MissingService if no enabled module offers it."""
        try:
            return self._providers[interface]
        except KeyError:
            raise MissingService("no enabled module provides %s" % interface.__name__) from None

    def optionalService(self, interface):
        """The provider of ``interface``, or None: for a feature a module can do without."""
        return self._providers.get(interface)

    def provides(self, interface):
        return interface in self._providers
