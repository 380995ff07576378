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
from xmppd.host import Host
from xmppd.imodule import IModule
from xmppd.logrotation import installRotatingLog
from xmppd.installsecret import createPrivateFile, ensureDataDirectory, loadInstallSecret
from xmppd.modules.message import MessageRouter
from xmppd.server import StoreRegistry, XMPPServer
from xmppd.storage import Database, OfflineStore, SettingsStore, UserStore
from xmppd.storage.lastactivity import LastActivityStore
from xmppd.storage.private import PrivateXMLStore
from xmppd.storage.pep import PepStore
from xmppd.storage.roster import RosterStore
from xmppd.storage.blocklist import BlocklistStore
from xmppd.storage.vcards import VCardStore
from xmppd.storage.mam import MamStore
from xmppd.tls import ensureCertificate, serverContextFactory


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
    return {name: (m.schema, m.enabledByDefault) for name, m in modules.items()}


class XMPPDService(service.MultiService):
    """Opens the database first, then starts the listeners and hosts."""

    twistdOptions = None

    def __init__(self, storage):
        service.MultiService.__init__(self)
        self.storage = storage

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
        d = self.storage.database.start()
        d.addCallback(lambda _: [s.startService() for s in self])
        d.addErrback(self._failed)
        return d

    def _failed(self, failure):
        log.err(failure, "xmppd could not start")
        from twisted.internet import reactor
        sys.stderr.write("xmppd: could not start: %s\n" % (failure.getErrorMessage(),))
        reactor.stop()

    @defer.inlineCallbacks
    def stopService(self):
        yield service.MultiService.stopService(self)
        yield self.storage.database.stop()


def openStorage(config):
    """The configured database (not started yet) and a store per feature."""
    storage = config.storage
    if storage.backend == "sqlite":
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
    return storesFor(database)


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


def storesFor(database):
    return StoreRegistry(database, users=UserStore(database),
                         settings=SettingsStore(database),
                         offline=OfflineStore(database),
                         roster=RosterStore(database),
                         blocklist=BlocklistStore(database),
                         lastActivity=LastActivityStore(database),
                         privateXML=PrivateXMLStore(database),
                         vcards=VCardStore(database),
                         pep=PepStore(database),
                         mam=MamStore(database))


def buildServer(config, modules, storage=None):
    """The XMPPServer with its hosts and handlers, not yet listening."""
    ensureDataDirectory(config.data_dir)
    if storage is None:
        storage = openStorage(config)
    certificate, key = ensureCertificate(
        config.tls.certificate, config.tls.private_key, config.data_dir, config.hosts)
    server = XMPPServer(config, storage, AccessRules(config),
                        serverContextFactory(certificate, key), hostTLSContexts(config),
                        loadInstallSecret(config.data_dir))
    for domain in config.hosts:
        host = Host(server, domain)
        MessageRouter(host).setHandlerParent(host)
        for name, options in sorted(config.modules.items()):
            if options.enabled:
                host.modules[name] = options
                for handler in modules[name].handlersFor(host, options):
                    handler.setHandlerParent(host)
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
    from xmppd.gctune import tune
    tune()
    config = options["server-config"]
    server = buildServer(config, options["modules"])
    top = XMPPDService(server.storage)
    top.server = server
    # twistd's own options (--logfile …), the parent of ours.
    top.twistdOptions = getattr(options, "parent", None)
    for host in server.hosts.values():
        host.setServiceParent(top)
    factory = ClientStreamFactory(server)
    server.c2sFactory = factory
    c2s = config.c2s
    internet.TCPServer(c2s.port, factory, interface=c2s.interface).setServiceParent(top)
    if c2s.direct_tls_port:
        internet.SSLServer(c2s.direct_tls_port, DirectTLSFactory(factory),
                           server.tlsContext, interface=c2s.interface).setServiceParent(top)
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
