"""
``Module``: the ready-made IModule a module file instantiates once.

A plugin file in ``xmppd/plugins`` (or in a third-party distribution's
``xmppd/plugins``) holds ``motd = Module("motd", handlersFor, schema)`` and
nothing else: the name, the options it accepts and a function that builds the
handlers for a host.
"""

import sys

from twisted.plugin import IPlugin
from zope.interface import implementer

from xmppd.imodule import IModule


@implementer(IPlugin, IModule)
class Module:
    def __init__(self, name, handlersFor, schema=None, enabledByDefault=True,
                 description="", servicesFor=None, depends=(), provides=(),
                 stores=None, tables=None):
        """
        ``depends``: names of modules that must run for this one to run.
        ``provides``: interfaces this module registers with ``host.provide``
        (start-up checks that it did). ``stores``: name → factory called
        with the Database, for stores opened under ``host.storage.NAME``
        (and by ``xmppctl``). ``tables``: the package holding this
        feature's ``schema/<dialect>/NNNN_*.sql`` deltas.
        """
        from xmppd.config import Schema
        self.name = name
        self._handlersFor = handlersFor
        self.schema = schema if schema is not None else Schema([])
        self.enabledByDefault = enabledByDefault
        self.description = description
        self._servicesFor = servicesFor
        self.depends = tuple(depends)
        self.provides = tuple(provides)
        self.stores = dict(stores or {})
        self.tables = tables
        # The Python module that declared it: built-in modules live in xmppd.
        self.origin = sys._getframe(1).f_globals.get("__name__", "")

    @property
    def builtin(self):
        return self.origin.startswith("xmppd.")

    def handlersFor(self, host, options):
        return list(self._handlersFor(host, options))

    def servicesFor(self, server, options):
        if self._servicesFor is None:
            return []
        return list(self._servicesFor(server, options))

    def __repr__(self):
        return "<Module %s>" % self.name
