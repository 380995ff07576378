"""
The server object: hosts, router, sessions and the c2s policy in one place.

The c2s negotiator and the sessions ask this object, not the config, what the
policy is (TLS required, limits, features), so the listener stays unaware of
modules and the modules stay unaware of sockets.
"""

from twisted.words.protocols.jabber.jid import JID
from wokkel.component import Router

from xmppd.accounts import AccountManager
from xmppd.c2s.loginthrottle import LoginThrottle
from xmppd.events import ACCOUNT_DELETED, CLIENT_OUTBOUND
from xmppd.jidprep import internJID
from xmppd.stanzas import stanzaError
from xmppd.c2s.ratelimit import RateLimits
from xmppd.lanes import Lanes
from xmppd.sessionmanager import SessionManager


# Fired with (session, stanza) for every stanza a client sends to an
# address; a hook that returns non-None has taken it.
CLIENT_OUTBOUND_EVENT = CLIENT_OUTBOUND


class ServerRouter(Router):
    """
    Routes by domain. A domain no host serves goes to the default route
    (``addRoute(None, …)``: the s2s module's, as with Wokkel's
    ``ServerService``), or, without s2s, gets ``remote-server-not-found``.
    """

    def route(self, stanza):
        return self.routeTo(stanza, stanza.attributes["to"])

    def routeTo(self, stanza, to):
        """``route``, for a stanza whose ``to`` the caller has read already."""
        # Shared and memoised: every stanza that crosses the router asks.
        destination = internJID(to).host
        route = self.routes.get(destination)
        if route is None:
            route = self.routes.get(None)
        if route is not None:
            return route.send(stanza)
        if stanza.getAttribute("type") in ("error", "result"):
            return
        # Without s2s every remote domain is unreachable (RFC 6120 §8.3.3.15).
        reply = stanzaError(stanza, "remote-server-not-found", "cancel")
        if JID(reply["to"]).host in self.routes:
            self.route(reply)


class XMPPServer:
    def __init__(self, config, storage, access, tlsContext=None, hostTLSContexts=None,
                 installSecret=b"", clock=None):
        self.config = config
        self.installSecret = installSecret
        self.storage = storage
        self.accounts = AccountManager(storage, config.data_dir, cacheCredentials=True)
        self.accounts.deletedListeners.append(self._accountDeleted)
        self.access = access
        self.tlsContext = tlsContext
        self.hostTLSContexts = dict(hostTLSContexts or {})
        if clock is None:
            from twisted.internet import reactor as clock
        # Time as modules and sessions see it (host.clock): a task.Clock in tests.
        self.clock = clock
        self.router = ServerRouter()
        self.sessions = SessionManager(self, clock)
        # One lane per account: routing to it, storing for it, delivering to
        # it and re-routing what its sessions left behind, in arrival order.
        self.pipeline = Lanes()
        # One lane per account for its roster and presence state (see
        # xmppd.rostermanager): apart from the message lanes, where an
        # offline delivery waits for the client's acknowledgement.
        self.rosterLanes = Lanes()
        self._shared = {}
        self.hosts = {}
        c2s = config.c2s
        self.requireEncryption = c2s.require_encryption
        self.stanzaSizeLimit = c2s.stanza_size_limit
        self.preauthStanzaSizeLimit = min(c2s.preauth_stanza_size_limit, c2s.stanza_size_limit)
        self.maxStanzaDepth = c2s.max_stanza_depth
        self.tlsHandshakeTimeout = c2s.tls_handshake_timeout
        self.closeTimeout = c2s.close_timeout
        self.outputBufferLimit = c2s.output_buffer_limit
        self.authTimeout = c2s.auth_timeout
        self.maxAuthAttempts = c2s.max_auth_attempts
        self.maxConnectionsPerAddress = c2s.max_connections_per_ip or float("inf")
        self.maxConnections = c2s.max_connections or float("inf")
        self.idleTimeout = c2s.idle_timeout
        self.loginThrottle = LoginThrottle(
            c2s.login_failure_window, c2s.login_failures_before_delay,
            c2s.login_failure_max_delay)
        self.rateLimits = RateLimits(
            c2s.ip_rate_limit_bytes_per_second, c2s.ip_rate_limit_burst,
            c2s.rate_limit_bytes_per_second, c2s.rate_limit_burst)
        self.pingTimeout = c2s.ping_timeout
        self.maxUnacknowledged = c2s.max_unacknowledged

    @property
    def defaultHost(self):
        return self.config.hosts[0]

    def _accountDeleted(self, bareJID):
        host = self.hosts.get(bareJID.rpartition("@")[2])
        if host is not None:
            host.events.fire(ACCOUNT_DELETED, bareJID)

    def tlsContextFor(self, domain):
        """The TLS context with ``domain``'s certificate (``[tls.hosts]``, else the default)."""
        return self.hostTLSContexts.get(domain, self.tlsContext)

    def shared(self, key, factory):
        """The server-wide object under ``key``, made by ``factory()`` on first use."""
        try:
            return self._shared[key]
        except KeyError:
            value = self._shared[key] = factory()
            return value

    def addHost(self, host):
        self.hosts[host.domain] = host

    # What the c2s negotiator asks ---------------------------------------------

    def admit(self, negotiator):
        """Whether the connection limits let this stream in (see ClientStreamFactory)."""
        xs = negotiator.xmlstream
        return xs.factory.admit(xs)

    def preAuthFeatures(self, domain):
        return self.hosts[domain].streamFeatures("pre-auth")

    def boundFeatures(self, domain):
        return self.hosts[domain].streamFeatures("bound")

    def streamFeaturesAnswered(self, domain, stage):
        return self.hosts[domain].streamFeaturesAnswered(stage)

    def streamFeaturesText(self, domain):
        """The cache of ``domain``'s serialised stream features (Host.streamFeaturesText)."""
        return self.hosts[domain].streamFeaturesText

    def preAuthIQHandler(self, domain, stanza):
        return self.hosts[domain].preAuthIQHandler(stanza)

    def nonzaHandler(self, domain, namespace):
        return self.hosts[domain].nonzaHandler(namespace)

    def resourceBound(self, session):
        session.host.resourceBound(session)

    def routeFromClient(self, stanza, session, name, attributes):
        """
        Route a checked, stamped stanza from a client (``name`` and
        ``attributes`` are its own). A stanza without ``to`` is for the
        sender's own account (RFC 6120 §10.3), except presence, where no
        ``to`` means a broadcast that the sender's host handles.
        """
        to = attributes.get("to")
        if not to:
            if name == "presence":
                return session.host.receive(stanza)
            to = attributes["to"] = session.bareJID.full()
        # Modules see what a client sends before it is routed: blocking
        # refuses it, carbons copy it to the sender's other resources.
        events = session.host.events
        if CLIENT_OUTBOUND_EVENT in events.handlers and events.fire(
                CLIENT_OUTBOUND_EVENT, session, stanza) is not None:
            return
        if name == "presence" and JID(to).host not in self.hosts:
            # Presence to another domain is the sender's host's business
            # first (RFC 6121 §3.1.2, §4.6: roster state, directed presence);
            # the host routes it on when done. A local recipient's host
            # does that itself, seeing the sender's session.
            return session.host.receive(stanza)
        self.router.routeTo(stanza, to)
