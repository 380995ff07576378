"""
The s2s service: the router's way out to other domains, and the listener
that lets other domains in.

It is the router's default route (``addRoute(None, …)``, as Wokkel's
``ServerService`` is), so a stanza for a domain no local host serves comes
here. Each ``(local, remote)`` pair has one outgoing stream, set up on the
first stanza for it; until it is authenticated the pair's stanzas wait in a
bounded queue, in order. A pair that cannot be set up within
``connect_timeout`` is given up: every waiting stanza is bounced to its
sender (``remote-server-timeout`` when time ran out, otherwise
``remote-server-not-found``), still in order, and the next stanza tries
again.

What arrives on incoming streams has been checked against the stream's
authenticated domains (``incoming.py``) and is routed like any stanza, so
the message, offline and presence modules see a remote sender exactly as
a local one, and their answers come back here on the way out.
"""

import binascii
import os

from twisted.application import service
from twisted.internet import defer
from twisted.python import log
from twisted.words.protocols.jabber import xmlstream
from twisted.words.protocols.jabber.jid import JID
from wokkel.generic import XmlPipe

from xmppd.stanzas import stanzaError
from xmppd.c2s.xmlstream import NS_CLIENT
from xmppd.config.values import normaliseDomain, parseHostPort
from xmppd.s2s import outgoing
from xmppd.s2s.incoming import S2SServerFactory, domainOf
from xmppd.s2s.status import StatusFile
from xmppd.s2s.tls import S2STLS


class OutgoingPair:
    """The outgoing stream of one (local, remote) pair and what waits for it."""

    def __init__(self, local, remote):
        self.local = local
        self.remote = remote
        self.queue = []
        self.xmlstream = None
        self.factory = None
        self.connector = None
        self.timer = None
        self.idleTimer = None
        self.method = None
        self.since = None
        self.address = None

    @property
    def key(self):
        return (self.local, self.remote)


class S2SService(service.Service):
    name = "s2s"

    def __init__(self, server, options, reactor=None):
        if reactor is None:
            from twisted.internet import reactor
        self.server = server
        self.options = options
        self.reactor = self.clock = reactor
        self.routes = {normaliseDomain(domain): parseHostPort(target)
                       for domain, target in options.routes.items()}
        self.secret = binascii.hexlify(os.urandom(32)).decode("ascii")
        self.outgoing = {}
        self.inbound = set()
        self.inboundByDomain = {}
        self.listener = None
        self.tls = None
        self.status = StatusFile(server.config.data_dir)
        self._metrics()

    @property
    def localDomains(self):
        return self.server.hosts

    @property
    def defaultDomain(self):
        return self.server.defaultHost

    def _metrics(self):
        from prometheus_client import Counter, Gauge

        from xmppd.metrics import registryFor
        registry = registryFor(self.server)
        self.stanzasIn = Counter("xmppd_s2s_stanzas_in", "Stanzas received from remote servers",
                                 registry=registry)
        self.stanzasOut = Counter("xmppd_s2s_stanzas_out", "Stanzas sent to remote servers",
                                  registry=registry)
        self.bounced = Counter("xmppd_s2s_stanzas_bounced",
                               "Stanzas for remote domains bounced undelivered",
                               registry=registry)
        connections = Gauge("xmppd_s2s_connections", "Authenticated s2s streams",
                            ["direction"], registry=registry)
        connections.labels("in").set_function(
            lambda: sum(len(xs.authenticator.pairs) for xs in self.inbound))
        connections.labels("out").set_function(
            lambda: sum(1 for p in self.outgoing.values() if p.xmlstream is not None))

    # Service --------------------------------------------------------------------

    def startService(self):
        service.Service.startService(self)
        self.tls = S2STLS({domain: self.server.tlsContextFor(domain)
                           for domain in self.server.hosts}, self.options.ca_file)
        # As Wokkel's ServerService: the router's side of a pipe is the
        # default route, and what comes out of ours is for remote domains.
        self._pipe = XmlPipe()
        self._pipe.source.addObserver("/*", self.send)
        self.server.router.addRoute(None, self._pipe.sink)
        self.listener = self.reactor.listenTCP(
            self.options.port, S2SServerFactory(self), interface=self.options.interface)
        log.msg("s2s listening on %s:%d" % (self.options.interface,
                                            self.listener.getHost().port))
        self.statusChanged()

    def stopService(self):
        service.Service.stopService(self)
        self.server.router.removeRoute(None, self._pipe.sink)
        for pair in list(self.outgoing.values()):
            self._close(pair)
        for xs in list(self.inbound):
            xs.sendFooter()
            xs.transport.loseConnection()
        self.status.remove()
        if self.listener is not None:
            return self.listener.stopListening()

    # The router's default route ---------------------------------------------------

    def send(self, stanza):
        """A stanza for a domain no local host serves."""
        remote = JID(stanza["to"]).host
        local = domainOf(stanza.getAttribute("from"))
        if local not in self.localDomains:
            # Never relay: a stanza that is not from us has no way out.
            log.msg("s2s: dropped a stanza for %s from %r" % (remote, stanza.getAttribute("from")))
            return
        pair = self.outgoing.get((local, remote))
        if pair is None:
            pair = self.outgoing[(local, remote)] = OutgoingPair(local, remote)
            self._connect(pair)
        if pair.xmlstream is not None:
            return self._write(pair, stanza)
        if len(pair.queue) >= self.options.max_queued_stanzas:
            return self._bounce(stanza, "resource-constraint", "wait",
                                "too many stanzas waiting for %s" % remote)
        pair.queue.append(stanza)

    def _write(self, pair, stanza):
        # Our stanzas are in jabber:client inside the server; on this
        # stream the default namespace is jabber:server.
        pair.xmlstream.send(stanza.toXml(defaultUri=NS_CLIENT))
        self.stanzasOut.inc()
        self._touch(pair)

    def _touch(self, pair):
        if pair.idleTimer is not None and pair.idleTimer.active():
            pair.idleTimer.reset(self.options.idle_timeout)
        else:
            pair.idleTimer = self.clock.callLater(self.options.idle_timeout, self._idle, pair)

    def _idle(self, pair):
        pair.idleTimer = None
        if self.outgoing.get(pair.key) is pair:
            log.msg("s2s: closing the idle stream from %s to %s" % pair.key)
            self._close(pair)

    # Outgoing streams ---------------------------------------------------------

    def _connect(self, pair):
        authenticator = outgoing.S2SConnectAuthenticator(self, pair.local, pair.remote)
        factory = outgoing.S2SClientFactory(
            self, authenticator, lambda reason: self._failed(pair, "remote-server-not-found",
                                                             reason.getErrorMessage()))
        factory.addBootstrap(xmlstream.STREAM_AUTHD_EVENT,
                             lambda xs: self._authenticated(pair, xs))
        factory.addBootstrap(xmlstream.INIT_FAILED_EVENT,
                             lambda reason: self._failed(pair, "remote-server-not-found",
                                                         reason.getErrorMessage()))
        factory.addBootstrap(xmlstream.STREAM_END_EVENT,
                             lambda reason: self._ended(pair))
        factory.addBootstrap(xmlstream.STREAM_CONNECTED_EVENT,
                             lambda xs: setattr(pair, "connecting", xs))
        pair.factory = factory
        pair.timer = self.clock.callLater(self.options.connect_timeout, self._timedOut, pair)
        try:
            pair.connector = outgoing.connect(self, pair.remote, factory)
        except Exception as e:
            self.clock.callLater(0, self._failed, pair, "remote-server-not-found", str(e))

    def _authenticated(self, pair, xs):
        if self.outgoing.get(pair.key) is not pair:
            return xs.transport.loseConnection()
        self._cancelTimer(pair)
        pair.xmlstream = xs
        pair.method = xs.authenticator.method
        pair.since = self.clock.seconds()
        pair.address = _address(xs)
        log.msg("s2s: stream from %s to %s authenticated by %s" % (
            pair.local, pair.remote, pair.method))
        queued, pair.queue = pair.queue, []
        for stanza in queued:
            self._write(pair, stanza)
        self.statusChanged()

    def _timedOut(self, pair):
        pair.timer = None
        self._failed(pair, "remote-server-timeout",
                     "no authenticated stream to %s within %ss" % (
                         pair.remote, self.options.connect_timeout))

    def _failed(self, pair, condition, text):
        if self.outgoing.get(pair.key) is not pair or pair.xmlstream is not None:
            return
        log.msg("s2s: cannot reach %s from %s: %s" % (pair.remote, pair.local, text))
        del self.outgoing[pair.key]
        self._cancelTimer(pair)
        self._disconnect(pair)
        queued, pair.queue = pair.queue, []
        for stanza in queued:
            self._bounce(stanza, condition, "wait" if condition.endswith("timeout") else "cancel",
                         text)

    def _ended(self, pair):
        if pair.xmlstream is None:
            return self._failed(pair, "remote-server-not-found",
                                "%s closed the stream during negotiation" % pair.remote)
        if self.outgoing.get(pair.key) is pair:
            del self.outgoing[pair.key]
        if pair.idleTimer is not None and pair.idleTimer.active():
            pair.idleTimer.cancel()
        log.msg("s2s: stream from %s to %s closed" % pair.key)
        self.statusChanged()

    def _close(self, pair):
        if self.outgoing.get(pair.key) is pair:
            del self.outgoing[pair.key]
        self._cancelTimer(pair)
        if pair.xmlstream is not None:
            pair.xmlstream.sendFooter()
            pair.xmlstream.transport.loseConnection()
        else:
            self._disconnect(pair)
        self.statusChanged()

    def _cancelTimer(self, pair):
        if pair.timer is not None and pair.timer.active():
            pair.timer.cancel()
        pair.timer = None

    def _disconnect(self, pair):
        xs = getattr(pair, "connecting", None)
        if xs is not None and xs.transport is not None:
            # Close our stream before the connection (RFC 6120 §4.4), so the
            # peer's log shows a deliberate end, not a network failure.
            if getattr(xs, "_headerSent", False):
                xs.sendFooter()
            xs.transport.loseConnection()
        elif pair.connector is not None:
            pair.connector.disconnect()

    def _bounce(self, stanza, condition, errorType, text):
        if stanza.getAttribute("type") in ("error", "result"):
            return
        self.bounced.inc()
        self.server.router.route(stanzaError(stanza, condition, errorType, text))

    # Dialback verification (we are the Receiving Server) ------------------------

    def verifyDialback(self, local, remote, streamID, key):
        """Fire True if ``remote``'s Authoritative Server vouches for the key."""
        authenticator = outgoing.S2SConnectAuthenticator(
            self, local, remote, verify=(streamID, key))
        result = {}
        done = defer.Deferred()

        def finish(value):
            if not done.called:
                done.callback(value)
            xs = result.get("xs")
            if xs is not None and xs.transport is not None:
                xs.transport.loseConnection()

        factory = outgoing.S2SClientFactory(self, authenticator,
                                            lambda reason: finish(False))
        factory.addBootstrap(xmlstream.STREAM_CONNECTED_EVENT,
                             lambda xs: result.__setitem__("xs", xs))
        factory.addBootstrap(xmlstream.STREAM_AUTHD_EVENT, lambda xs: finish(True))
        factory.addBootstrap(xmlstream.INIT_FAILED_EVENT, lambda reason: finish(False))
        factory.addBootstrap(xmlstream.STREAM_END_EVENT, lambda reason: finish(False))
        timer = self.clock.callLater(self.options.connect_timeout, finish, False)
        done.addBoth(lambda value: (timer.active() and timer.cancel(), value)[1])
        try:
            outgoing.connect(self, remote, factory)
        except Exception:
            finish(False)
        return done

    # Incoming streams ---------------------------------------------------------------

    def inboundOpened(self, xs):
        if len(self.inbound) >= self.options.max_connections:
            return False
        self.inbound.add(xs)
        return True

    def admitRemote(self, negotiator, remote):
        """The per-domain bound: a new stream for ``remote`` only below it."""
        streams = self.inboundByDomain.get(remote, set())
        return (negotiator.xmlstream in streams
                or len(streams) < self.options.max_connections_per_domain)

    def inboundAuthenticated(self, xs, local, remote, method):
        self.inboundByDomain.setdefault(remote, set()).add(xs)
        xs.since = getattr(xs, "since", None) or self.clock.seconds()
        log.msg("s2s: incoming stream from %s to %s authenticated by %s" % (
            remote, local, method))
        self.statusChanged()

    def inboundClosed(self, xs):
        self.inbound.discard(xs)
        for remote in {r for _, r in getattr(xs.authenticator, "pairs", {})}:
            streams = self.inboundByDomain.get(remote)
            if streams is not None:
                streams.discard(xs)
                if not streams:
                    del self.inboundByDomain[remote]
        if getattr(xs.authenticator, "pairs", None):
            self.statusChanged()

    def routeInbound(self, stanza):
        self.stanzasIn.inc()
        self.server.router.route(stanza)

    # What xmppctl s2s shows ----------------------------------------------------------

    def connections(self):
        rows = []
        for pair in self.outgoing.values():
            if pair.xmlstream is not None:
                rows.append({"direction": "out", "local": pair.local, "remote": pair.remote,
                             "auth": pair.method, "since": pair.since,
                             "address": pair.address})
        for xs in self.inbound:
            for (local, remote), method in sorted(xs.authenticator.pairs.items()):
                rows.append({"direction": "in", "local": local, "remote": remote,
                             "auth": method, "since": xs.since, "address": _address(xs)})
        return sorted(rows, key=lambda r: (r["remote"], r["local"], r["direction"]))

    def statusChanged(self):
        if self.running:
            self.status.write(self.connections())


def _address(xs):
    peer = xs.transport.getPeer() if xs.transport is not None else None
    return "%s:%s" % (peer.host, peer.port) if peer is not None else None

