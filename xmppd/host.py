"""
A virtual host: the Wokkel InternalComponent that the enabled modules hang on.

Stanzas routed to the host's domain arrive in ``receive``. An IQ to a full
JID is the resource's business and goes straight to that session (RFC 6121
§8.5.3.1); everything else is dispatched to the module handlers' XPath
observers, where the first handler to take a stanza marks it ``handled`` and
the fallback answers what nobody took.
"""

from twisted.python import log
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish
from wokkel.component import InternalComponent

from zope.interface import implementer

from xmppd.dispatch import StanzaPipe
from xmppd.events import RESOURCE_BOUND, RESOURCE_UNBOUND, EventBus
from xmppd.imodule import IHost
from xmppd.metrics import registryFor
from xmppd.router import MessageRouter
from xmppd.rostermanager import RosterManager
from xmppd.services import ServiceRegistry
from xmppd.stanzas import stanzaError


@implementer(IHost)
class Host(InternalComponent):
    """
    One served domain and the module API a handler sees.

    Attributes handlers use: ``domain``, ``events`` (EventBus), ``sessions``
    (SessionManager), ``storage`` (named stores: ``users``, ``settings``,
    ``offline``, …), ``accounts`` (AccountManager), ``config`` (the
    ServerConfig), ``access`` (AccessRules), ``modules`` (name → validated
    options of enabled modules).
    """

    def __init__(self, server, domain):
        InternalComponent.__init__(self, server.router, domain)
        self.server = server
        self.domain = domain
        self.jid = JID(domain)
        self.events = EventBus()
        self.discoFeatures = []
        self.discoIdentities = []
        self.modules = {}
        self._streamFeatures = {"pre-auth": [], "bound": []}
        # The serialised stream features, by the negotiation's state (see
        # C2SNegotiator.featuresText): emptied when a feature is added.
        self.streamFeaturesText = {}
        self._preAuthIQ = {}
        self._nonzas = {}
        self.services = ServiceRegistry()
        # Routing of messages between accounts is the core's, on every host;
        # the modules take part through its events.
        self.messageRouter = MessageRouter(self)
        self.messageRouter.setHandlerParent(self)
        # What presence and the roster module share (xmppd.rostermanager).
        self.rosters = RosterManager(self)

    @property
    def sessions(self):
        return self.server.sessions

    @property
    def storage(self):
        return self.server.storage

    @property
    def accounts(self):
        """The server's xmppd.accounts.AccountManager."""
        return self.server.accounts

    @property
    def config(self):
        return self.server.config

    @property
    def access(self):
        return self.server.access

    @property
    def metricsRegistry(self):
        return registryFor(self.server)

    @property
    def lanes(self):
        """The per-account FIFO (xmppd.lanes.Lanes) every account's traffic runs in."""
        return self.server.pipeline

    @property
    def clock(self):
        """The reactor's IReactorTime; tests give the server a task.Clock instead."""
        return self.server.clock

    def serverShared(self, key, factory):
        """
        The one object of this server under ``key``, made by ``factory()``
        the first time any host asks: state a module keeps once per server
        whatever the number of hosts (its metrics in the one registry, a
        sweep whose query covers every account). ``key`` starts with the
        module's name.
        """
        return self.server.shared(key, factory)

    def provide(self, interface, provider):
        """Offer a service to the other modules (see xmppd.services)."""
        self.services.provide(interface, provider)

    def service(self, interface):
        """The enabled module's provider of ``interface``; MissingService otherwise."""
        return self.services.service(interface)

    def optionalService(self, interface):
        return self.services.optionalService(interface)

    def hostFor(self, domain):
        """The Host serving ``domain`` on this server, or None if it is remote."""
        return self.server.hosts.get(domain)

    def isLocalDomain(self, domain):
        return domain in self.server.hosts

    # Wiring ------------------------------------------------------------------

    def startService(self):
        # As InternalComponent.startService, but the router's side of the pipe
        # delivers into ``receive`` so that full-JID IQs bypass the handlers.
        self.running = 1
        self._pipe = StanzaPipe()
        self.xmlstream = self._pipe.source
        self._pipe.sink.send = self.receive
        for domain in self.domains:
            self._router.addRoute(domain, self._pipe.sink)
        for handler in self:
            handler.makeConnection(self.xmlstream)
            handler.connectionInitialized()

    def addDiscoFeature(self, namespace):
        if namespace not in self.discoFeatures:
            self.discoFeatures.append(namespace)
            # A computed feature (entity capabilities) may depend on it.
            self.streamFeaturesText.clear()

    def addStreamFeature(self, element, stage="bound"):
        """
        Offer ``element`` in stream features, before auth or after it; a
        callable is asked for its element (or None, "not yet"), for a
        feature computed from what the modules offer once they are all up.
        Once every callable has answered with an element, the features'
        text is reused for every stream until a stream or disco feature is
        added.
        """
        self._streamFeatures[stage].append(element)
        self.streamFeaturesText.clear()

    def streamFeatures(self, stage):
        return self.streamFeaturesAnswered(stage)[0]

    def streamFeaturesAnswered(self, stage):
        """``(features, complete)``: complete unless a callable said "not yet"."""
        features = [f() if callable(f) else f for f in self._streamFeatures[stage]]
        answered = [f for f in features if f is not None]
        return answered, len(answered) == len(features)

    def addPreAuthIQHandler(self, namespace, handler):
        """Let ``handler(negotiator, iq)`` answer an IQ on an unauthenticated stream."""
        self._preAuthIQ[namespace] = handler

    def addNonzaHandler(self, namespace, handler):
        """
        Let ``handler(negotiator, element)`` take the top-level elements of
        ``namespace`` that an authenticated client sends outside stanzas.
        """
        self._nonzas[namespace] = handler

    def nonzaHandler(self, namespace):
        return self._nonzas.get(namespace)

    def preAuthIQHandler(self, stanza):
        if stanza.name != "iq":
            return None
        for child in stanza.elements():
            return self._preAuthIQ.get(child.uri)
        return None

    # Traffic ------------------------------------------------------------------

    def receive(self, stanza):
        if not isinstance(stanza, domish.Element):
            return
        # The element's fields read once: its attribute reads take
        # CPython's slow path (domish's __getattr__).
        fields = stanza.__dict__
        fields["handled"] = False
        to = fields["attributes"].get("to") if fields["name"] == "iq" else None
        if to is not None:
            to = JID(to)
            if to.user and to.resource:
                return self.deliverIQ(to, stanza)
        try:
            self.xmlstream.dispatch(stanza)
        except Exception:
            log.err(None, "handler failed on %s" % stanza.toXml())
            if stanza.getAttribute("type") not in ("error", "result"):
                self.send(stanzaError(stanza, "internal-server-error", "wait"))

    def deliverIQ(self, to, iq):
        session = self.sessions.get(to)
        if session is not None and session.send(iq):
            return
        if iq.getAttribute("type") in ("get", "set"):
            self.send(stanzaError(iq, "service-unavailable", "cancel"))

    def send(self, stanza):
        """Route a stanza from this host, stamped with the host as sender if unset."""
        if not stanza.getAttribute("from"):
            stanza["from"] = self.domain
        self.server.router.route(stanza)

    def bounce(self, stanza, condition, errorType=None, text=None):
        """Answer a stanza with an RFC 6120 §8.3 error, never an error to an error."""
        if stanza.getAttribute("type") in ("error", "result"):
            return
        self.send(stanzaError(stanza, condition, errorType, text))

    # Session lifecycle, fired as events for the modules ------------------------

    def resourceBound(self, session):
        self.events.fire(RESOURCE_BOUND, session)

    def resourceUnbound(self, session):
        self.events.fire(RESOURCE_UNBOUND, session)

    def isLocalUser(self, jid):
        """Fire True if ``jid``'s account exists on this host."""
        return self.accounts.exists(jid.userhost())
