"""
The plugin interfaces: what a module is to the server, and what the server
is to a module.

A module is found with ``twisted.plugin.getPlugins(IModule, xmppd.plugins)``,
enabled by a ``[modules.NAME]`` table, validated against its ``schema`` at
start-up, and then asked for the Wokkel handlers to hang on each virtual
host. Everything a handler needs from the server it reaches through the
``IHost`` it is given; ``xmppd.api`` gathers the names a plugin imports.
"""

from zope.interface import Attribute, Interface


class IModule(Interface):
    name = Attribute("The module's name: its config table is [modules.NAME].")
    enabledByDefault = Attribute("True if the module runs without a config table.")
    schema = Attribute("An xmppd.config.Schema of the module's options, "
                       "'enabled' excepted.")
    depends = Attribute("Names of the modules this one needs running (may be empty).")
    provides = Attribute("Interfaces the module offers through host.provide.")
    stores = Attribute("Name -> factory(database) of the stores the module opens.")
    tables = Attribute("Package with the module's schema/<dialect>/NNNN_*.sql, or None.")

    def handlersFor(host, options):
        """
        Return the Wokkel XMPPHandlers to hang on ``host`` (an IHost), given
        the module's validated ``options`` (attribute access, e.g.
        ``options.message``).
        """

    def servicesFor(server, options):
        """
        Optional: Twisted services the module runs once per server rather
        than per host (a listener), started after the hosts.
        """


class IHost(Interface):
    """One virtual host, as its modules see it."""

    domain = Attribute("The host's domain, e.g. 'example.org'.")
    events = Attribute("The host's xmppd.events.EventBus: hook(name, handler, "
                       "priority) and fire(name, *args); see xmppd.api for the names.")
    sessions = Attribute("The SessionManager: get(fullJID), resources(bareJID), "
                         "availableResources(bareJID) of bound client resources.")
    storage = Attribute("The named stores: the core's users, settings (per-user "
                        "key/value: get/set/delete(jid, node, key)) and roster, and "
                        "those the enabled modules declare (Module(stores=...)): "
                        "offline, mam, pep, ...")
    accounts = Attribute("The AccountManager: create(jid, password), setPassword(jid, "
                         "password), delete(jid) (every store's rows, then the "
                         "ACCOUNT_DELETED event), exists(jid), listUsers(host), count(host).")
    config = Attribute("The whole validated ServerConfig (read-only).")
    access = Attribute("AccessRules: evaluate(ruleName, bareJID), isAllowed(rule, jid).")
    modules = Attribute("Name → validated options of every module enabled on this host.")
    metricsRegistry = Attribute("The prometheus_client CollectorRegistry served at "
                                "/metrics: register the module's metrics in it.")

    services = Attribute("The xmppd.services.ServiceRegistry of this host.")
    lanes = Attribute("xmppd.lanes.Lanes: run(key, fn, *args) in one FIFO per account.")
    clock = Attribute("The IReactorTime modules schedule with (a task.Clock in tests).")

    def provide(interface, provider):
        """Offer ``provider`` as ``interface`` to the other modules."""

    def service(interface):
        """The provider of ``interface``; raises MissingService without one."""

    def optionalService(interface):
        """The provider of ``interface``, or None."""

    def hostFor(domain):
        """The local IHost serving ``domain``, or None for a remote domain."""

    def send(stanza):
        """Route a stanza; ``from`` defaults to the host's domain."""

    def bounce(stanza, condition, errorType=None, text=None):
        """Answer ``stanza`` with an RFC 6120 §8.3 error (never an error to an error)."""

    def addDiscoFeature(namespace):
        """Advertise a feature in the host's disco#info."""

    def addStreamFeature(element, stage="bound"):
        """Offer an element in stream features, 'pre-auth' or 'bound'."""

    def addPreAuthIQHandler(namespace, handler):
        """Answer IQs of ``namespace`` on unauthenticated (encrypted) streams."""

    def isLocalUser(jid):
        """Fire True if the account exists on this host."""
