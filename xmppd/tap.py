"""
``twistd xmppd``: options and the service tree (DESIGN.md, "The service tree").

makeService builds, in order: the database, the server with its router, one
Host per virtual host carrying the enabled modules' handlers, and the c2s
listeners. Listeners start only after the schema is up to date, so that no
client is accepted by a server that cannot store anything yet.
"""

import os
import sys
from importlib.metadata import entry_points

from twisted.application import internet, service
from twisted.internet import defer
from twisted.plugin import getPlugins
from twisted.python import log, usage
from wokkel.generic import FallbackHandler

import xmppd.plugins
from xmppd.access import AccessRules
from xmppd.c2s.stream import ClientStreamFactory
from xmppd.config import ConfigError, loadConfig
from xmppd.handshakes import HandshakeWorkers
from xmppd.host import Host
from xmppd.imodule import IModule
from xmppd.logrotation import installRotatingLog
from xmppd.installsecret import createPrivateFile, ensureDataDirectory, loadInstallSecret
from xmppd.server import XMPPServer
from xmppd.storage import Database, openStores
from xmppd.tls import ensureCertificate, serverContextFactory
from xmppd.tlstransport import LeanTLSFactory


class Options(usage.Options):
    optParameters = [
        ["config", "c", None, "TOML config file (default: embedded defaults)"],
    ]

    def postOptions(self):
        try:
            self["modules"] = availableModules()
            self["server-config"] = loadConfig(self["config"], moduleSchemas(self["modules"]))
        except ConfigError as e:
            # One line naming the key, as operators expect; no usage dump.
            sys.stderr.write("xmppd: %s\n" % (e,))
            raise SystemExit(1)


def availableModules():
    """
    Every installed module by name: plugin files in ``xmppd/plugins``
    (built-in ones, and drop-in files in any ``xmppd/plugins`` directory on
    sys.path), and distributions declaring an ``xmppd.modules`` entry point
    — the way that also works beside an editable install of xmppd.
    """
    modules = {module.name: module for module in getPlugins(IModule, xmppd.plugins)}
    for entry in entry_points(group="xmppd.modules"):
        module = entry.load()
        if not IModule.providedBy(module):
            raise ConfigError("entry point %s = %s does not provide IModule"
                              % (entry.name, entry.value))
        modules.setdefault(module.name, module)
    return modules


def moduleSchemas(modules):
    """What config validation needs of each module: its schema, default and dependencies."""
    return {name: (m.schema, m.enabledByDefault, tuple(getattr(m, "depends", ())))
            for name, m in modules.items()}


def loadOrder(config, modules):
    """
    The enabled modules' names, each after the modules it depends on, so
    that a module finds the services of its dependencies when its handlers
    are built (validation has already refused a missing dependency).
    """
    enabled = sorted(name for name, options in config.modules.items() if options.enabled)
    ordered, placed = [], set()

    def place(name, path):
        if name in placed:
            return
        if name in path:
            cycle = " -> ".join(path[path.index(name):] + [name])
            raise ConfigError("modules.%s: dependency cycle %s" % (name, cycle),
                              "modules." + name)
        for needed in getattr(modules[name], "depends", ()):
            place(needed, path + [name])
        placed.add(name)
        ordered.append(name)

    for name in enabled:
        place(name, [])
    return ordered


class XMPPDService(service.MultiService):
    """Opens the database first, then starts the listeners and hosts."""

    twistdOptions = None

    def __init__(self, storage):
        service.MultiService.__init__(self)
        self.storage = storage
        # Run after the database and the hosts are up and before the
        # listeners, and when stopping before anything else ([cluster]:
        # join and leave).
        self.beforeListening = []
        self.beforeStopping = []

    def setServiceParent(self, parent):
        service.MultiService.setServiceParent(self, parent)
        if self.twistdOptions is not None and hasattr(parent, "setComponent"):
            # The parent is twistd's application, not yet logging.
            config = self.server.config.server
            installRotatingLog(parent, self.twistdOptions,
                               config.log_rotate_length, config.log_rotated_files)

    def privilegedStartService(self):
        # twistd binds listeners here, before startService; ours bind in
        # startService instead, once the database and the hosts are up, so
        # that no client reaches a server whose modules are not ready.
        pass

    def startService(self):
        service.Service.startService(self)
        d = self.storage.start()
        if self.beforeListening:
            # The hosts first (what runs first needs their modules), then
            # the listeners.
            d.addCallback(lambda _: [s.startService() for s in self if isinstance(s, Host)])
            for first in self.beforeListening:
                d.addCallback(lambda _, first=first: first())
        d.addCallback(lambda _: [s.startService() for s in self if not s.running])
        d.addErrback(self._failed)
        return d

    def _failed(self, failure):
        log.err(failure, "xmppd could not start")
        from twisted.internet import reactor
        sys.stderr.write("xmppd: could not start: %s\n" % (failure.getErrorMessage(),))
        reactor.stop()

    @defer.inlineCallbacks
    def stopService(self):
        for first in self.beforeStopping:
            yield first()
        yield service.MultiService.stopService(self)
        yield self.storage.stop()


def openStorage(config, modules=None):
    """
    The configured database (not started yet) with the core's stores and
    those of the enabled modules (``modules``: every available module by
    name; by default those installed).
    """
    storage = config.storage
    if storage.backend == "memory":
        database = Database("memory")
    elif storage.backend == "sqlite":
        ensureDataDirectory(config.data_dir)
        path = storage.sqlite.path or os.path.join(config.data_dir, "xmppd.sqlite")
        _privateDatabaseFile(path)
        database = Database("sqlite", path=path)
    else:
        mysql = storage.mysql
        database = Database("mysql", host=mysql.host, port=mysql.port, user=mysql.user,
                            password=mysql.password, database=mysql.database,
                            unix_socket=mysql.unix_socket or None,
                            pool_size=mysql.pool_size, driver=mysql.driver)
    return storesFor(database, config, modules)


def _privateDatabaseFile(path):
    """
    The SQLite file holds every account's SCRAM keys: created 0600 (SQLite
    gives its -wal and -shm files the same mode), and an older 0644 one is
    tightened.
    """
    try:
        createPrivateFile(path, b"")
    except FileExistsError:
        if os.stat(path).st_mode & 0o077:
            os.chmod(path, 0o600)


def storesFor(database, config, modules=None):
    """
    The StoreRegistry of ``database``: the core's stores, those the modules
    that ``config`` enables declare (``Module(stores=, tables=)``), and, for
    deleting accounts, those of the modules installed but off.
    """
    if modules is None:
        modules = availableModules()
    enabled = [modules[name] for name in loadOrder(config, modules)]
    return openStores(database, enabled, modules.values())


def buildServer(config, modules, storage=None, clock=None):
    """
    The XMPPServer with its hosts and handlers, not yet listening; ``clock``
    (the reactor by default) is the time its modules and sessions see.
    """
    ensureDataDirectory(config.data_dir)
    if storage is None:
        storage = openStorage(config, modules)
    certificate, key = ensureCertificate(
        config.tls.certificate, config.tls.private_key, config.data_dir, config.hosts)
    server = XMPPServer(config, storage, AccessRules(config),
                        serverContextFactory(certificate, key), hostTLSContexts(config),
                        loadInstallSecret(config.data_dir), clock=clock)
    if config.cluster is not None and config.cluster.enabled:
        # [cluster]: sessions and lanes that span the nodes (xmppd.cluster).
        from xmppd.cluster import install
        install(server, config.cluster)
    for domain in config.hosts:
        host = Host(server, domain)
        for name in loadOrder(config, modules):
            options = config.modules[name]
            host.modules[name] = options
            module = modules[name]
            for handler in module.handlersFor(host, options):
                handler.setHandlerParent(host)
            for interface in getattr(module, "provides", ()):
                if not host.services.provides(interface):
                    raise ConfigError("modules.%s: declares that it provides %s, but did not"
                                      % (name, interface.__name__), "modules." + name)
        FallbackHandler().setHandlerParent(host)
        server.addHost(host)
    return server


def hostTLSContexts(config):
    """The context of each host with its own certificate in ``[tls.hosts]``."""
    contexts = {}
    for domain, files in config.tls.hosts.items():
        for key, path in (("certificate", files.certificate),
                          ("private_key", files.private_key)):
            if not os.path.isfile(path):
                dotted = 'tls.hosts."%s".%s' % (domain, key)
                raise ConfigError('%s = "%s": no such file' % (dotted, path), dotted)
        contexts[domain] = serverContextFactory(files.certificate, files.private_key)
    return contexts


def makeService(options):
    from twisted.internet import reactor

    from xmppd.eventloop import install
    from xmppd.gctune import tune
    tune()
    install(reactor)
    config = options["server-config"]
    server = buildServer(config, options["modules"])
    top = XMPPDService(server.storage)
    top.server = server
    cluster = getattr(server, "cluster", None)
    if cluster is not None:
        top.beforeListening.append(cluster.join)
        top.beforeStopping.append(cluster.leave)
    # twistd's own options (--logfile …), the parent of ours.
    top.twistdOptions = getattr(options, "parent", None)
    for host in server.hosts.values():
        host.setServiceParent(top)
    if config.tls.handshake_threads:
        HandshakeWorkers(config.tls.handshake_threads).setServiceParent(top)
    factory = ClientStreamFactory(server)
    server.c2sFactory = factory
    c2s = config.c2s
    if c2s.reuse_port:
        # Several nodes on one host behind one port (docs/operators.md).
        from xmppd.cluster.reuseport import ReusePortServer
        ReusePortServer(c2s.port, factory, c2s.interface).setServiceParent(top)
        if c2s.direct_tls_port:
            ReusePortServer(c2s.direct_tls_port, DirectTLSFactory(factory), c2s.interface,
                            server.tlsContext).setServiceParent(top)
    else:
        internet.TCPServer(c2s.port, factory, interface=c2s.interface).setServiceParent(top)
        if c2s.direct_tls_port:
            # listenSSL's TLSMemoryBIOFactory, with xmppd's TLS layer.
            internet.TCPServer(c2s.direct_tls_port,
                               LeanTLSFactory(server.tlsContext, False, DirectTLSFactory(factory)),
                               interface=c2s.interface).setServiceParent(top)
    for name, moduleOptions in sorted(config.modules.items()):
        servicesFor = getattr(options["modules"][name], "servicesFor", None)
        if moduleOptions.enabled and servicesFor is not None:
            # Server-wide parts of a module (the s2s listener), started
            # after the hosts like the c2s listener.
            for child in servicesFor(server, moduleOptions):
                child.setServiceParent(top)
    if config.metrics.enabled:
        from xmppd.metrics import metricsService
        metricsService(server, config.metrics.listen).setServiceParent(top)
    return top


class DirectTLSFactory:
    """XEP-0368: the same c2s streams, already encrypted when they start."""

    def __init__(self, factory):
        self.factory = factory

    def __getattr__(self, name):
        return getattr(self.factory, name)

    def buildProtocol(self, addr):
        xs = self.factory.buildProtocol(addr)
        xs.authenticator.encrypted = True
        return xs
