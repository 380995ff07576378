"""
c2s stream negotiation (RFC 6120 §4–§7): header checks, STARTTLS, SASL, bind.

The negotiator is the stream's authenticator and owns it until a resource is
bound; then stanzas go to the bound ``Session``. Negotiation is an explicit
state machine rather than a web of one-shot observers, so that every element
that arrives in the wrong state gets the stream error RFC 6120 names for it.
"""

import base64
import binascii
import uuid

from twisted.internet import defer
from twisted.python import failure, log
from twisted.words.protocols.jabber import error, xmlstream
from twisted.words.protocols.jabber.jid import InvalidFormat, JID
from twisted.words.xish import domish
from twisted.words.xish.domish import escapeToXml

from xmppd.c2s.sasl import NS_SASL, SASLFailure, createMechanism, mechanismsFor
from xmppd.c2s.xmlstream import NS_CLIENT, NS_STREAMS
from xmppd.jidprep import internJID
from xmppd.replies import resultText
from xmppd.stanzas import NS_SESSION, STANZA_NAMES, stanzaError
from xmppd.tlstransport import startTLS

NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_SASL_CB = "urn:xmpp:sasl-cb:0"
# The bind result's payload, as written (xmppd.replies).
BIND_PAYLOAD = "<bind xmlns='%s'><jid>%%s</jid></bind>" % NS_BIND
# What Twisted's XmlStream.sendHeader writes for a receiving c2s stream:
# the domain and the stream id go in.
HEADER_TEMPLATE = ("<stream:stream xmlns:stream='%s' xmlns='%s' from='%%s' id='%%s'"
                   " version='1.0'>" % (NS_STREAMS, NS_CLIENT))
# What every login is sent between the headers, as text like the headers
# (see sendHeaderAndFeatures): building each as an element and serialising
# it cost more than the rest of its step.
PROCEED = "<proceed xmlns='%s'/>" % NS_TLS
SASL_CHALLENGE = "<challenge xmlns='%s'>%%s</challenge>" % NS_SASL
SASL_SUCCESS = "<success xmlns='%s'/>" % NS_SASL
SASL_SUCCESS_WITH_DATA = "<success xmlns='%s'>%%s</success>" % NS_SASL
# The read-gate reason of a stream whose SASL answer is being delayed.
LOGIN_THROTTLE = "login throttle"
# Elements a client may pipeline behind a delayed SASL answer (the rest of
# a read already parsed); they are handled after the answer, in order.
MAX_HELD_ELEMENTS = 8


class C2SNegotiator(xmlstream.ListenAuthenticator):
    """
    Drives one client connection from its first header to a bound resource.

    ``server`` is the C2SServer that knows the hosts, the user store, the TLS
    context, the session manager and the stream features modules add.
    """

    namespace = NS_CLIENT

    def __init__(self, server):
        xmlstream.ListenAuthenticator.__init__(self)
        self.server = server
        self.encrypted = False
        self.username = None
        self.mechanism = None
        self.failedAuths = 0
        self._throttleLogged = False
        self._answerPending = False
        self._heldElements = []
        self._session = None
        self._binding = None
        self.host = None

    @property
    def session(self):
        """The stream's bound (or resumed) session; None before and after."""
        return self._session

    @session.setter
    def session(self, session):
        self._session = session
        if session is not None:
            self._binding = None
            # Bound or resumed (XEP-0198): the stream is authenticated, and
            # its auth timeout would otherwise wait out its minute in the
            # reactor with its stream, in every idle session.
            authenticated = getattr(self.xmlstream, "authenticated", None)
            if authenticated is not None:
                authenticated()

    # Stream start ---------------------------------------------------------

    def streamStarted(self, rootElement):
        xs = self.xmlstream
        if (rootElement.uri, rootElement.name) != (NS_STREAMS, "stream"):
            xs.namespace = NS_CLIENT
            return xs.sendStreamError(error.StreamError("invalid-namespace"))
        xmlstream.ListenAuthenticator.streamStarted(self, rootElement)
        if xs.namespace != NS_CLIENT:
            xs.namespace = NS_CLIENT
            return xs.sendStreamError(error.StreamError("invalid-namespace"))
        host = rootElement.getAttribute("to", "").lower()
        if host not in self.server.hosts:
            xs.thisEntity = JID(self.server.defaultHost)
            return xs.sendStreamError(error.StreamError("host-unknown"))
        if self.host is not None and host != self.host:
            return xs.sendStreamError(error.StreamError("host-unknown"))
        self.host = host
        xs.thisEntity = internJID(host)
        if xs.version < (1, 0):
            return xs.sendStreamError(error.StreamError("unsupported-version"))
        if not self.server.admit(self):
            return xs.sendStreamError(error.StreamError(
                "resource-constraint", text="too many connections"))
        self.sendHeaderAndFeatures()

    def sendHeaderAndFeatures(self):
        """
        The stream header and features in one write. Both are the same
        text for every stream in the same state but for the stream id, and
        a login sends them three times: they are written from templates
        rather than built and serialised as elements each time.
        """
        xs = self.xmlstream
        if (xs.otherEntity is not None or xs.initiating or not xs.sid
                or xs.prefixes != {NS_STREAMS: "stream"} or xs.version != (1, 0)):
            xs.sendHeader()
            return xs.send(self.features())
        xs._headerSent = True
        xs.send(HEADER_TEMPLATE % (xs.thisEntity.userhost(), xs.sid) + self.featuresText())

    def featuresText(self):
        """The serialised features, from the host's cache when they are settled."""
        binding = self.channelBinding()
        key = (self.username is None, self.encrypted, self.server.requireEncryption,
               self.server.tlsContext is not None,
               tuple(binding.types) if binding is not None and binding.types else None)
        cache = self.server.streamFeaturesText(self.host)
        text = cache.get(key)
        if text is None:
            features, complete = self.features(binding, answered=True)
            text = features.toXml(prefixes={NS_STREAMS: "stream"}, defaultUri=NS_CLIENT,
                                  prefixesInScope=["stream"])
            if complete:
                cache[key] = text
        return text

    def features(self, binding=None, answered=False):
        """
        The ``<stream:features/>`` of this stream's state; with ``answered``,
        ``(features, complete)``: whether every module that computes its
        feature has given one (see Host.addStreamFeature).
        """
        if binding is None:
            binding = self.channelBinding()
        complete = True
        features = domish.Element((NS_STREAMS, "features"))
        if self.username is None:
            tlsOffered = not self.encrypted and self.server.tlsContext is not None
            if tlsOffered:
                starttls = features.addElement((NS_TLS, "starttls"))
                if self.server.requireEncryption:
                    starttls.addElement("required")
            if self.encrypted or not self.server.requireEncryption:
                mechanisms = features.addElement((NS_SASL, "mechanisms"))
                for name in mechanismsFor(self.encrypted, binding):
                    mechanisms.addElement("mechanism", content=name)
                if binding is not None and binding.types:
                    # XEP-0440: which channel-binding types the -PLUS ones take.
                    offered = features.addElement((NS_SASL_CB, "sasl-channel-binding"))
                    for kind in binding.types:
                        offered.addElement("channel-binding")["type"] = kind
            if self.mayNegotiateAuth():
                offered, complete = self.server.streamFeaturesAnswered(self.host, "pre-auth")
                for feature in offered:
                    features.addChild(feature)
        else:
            features.addElement((NS_BIND, "bind"))
            session = features.addElement((NS_SESSION, "session"))
            session.addElement("optional")
            offered, complete = self.server.streamFeaturesAnswered(self.host, "bound")
            for feature in offered:
                features.addChild(feature)
        if answered:
            return features, complete
        return features

    def channelBinding(self):
        """
        This stream's TLS channel binding (RFC 9266, RFC 5929), or None;
        found once per stream (a login asks four times: two features, the
        mechanism's check and SCRAM's) and let go at bind.
        """
        if not self.encrypted:
            return None
        binding = self._binding
        if binding is None:
            from xmppd.tls import channelBindingFor
            binding = self._binding = channelBindingFor(self.xmlstream)
        return binding

    def mayNegotiateAuth(self):
        return self.encrypted or not self.server.requireEncryption

    # Elements before binding -----------------------------------------------

    def elementReceived(self, element):
        session = self._session
        if session is not None and element.uri == NS_CLIENT and not self._answerPending:
            # A bound stream's stanza, nearly every element: what the checks
            # below come to for it.
            return session.receivedFromClient(element)
        if self._answerPending:
            if len(self._heldElements) >= MAX_HELD_ELEMENTS:
                return self.xmlstream.sendStreamError(error.StreamError(
                    "policy-violation", text="too much sent before the SASL answer"))
            return self._heldElements.append(element)
        if element.uri != NS_CLIENT and self.username is not None:
            # After authentication, a module may own a namespace of nonzas
            # (XEP-0198's enable, r, a, resume), before binding or after.
            handler = self.server.nonzaHandler(self.host, element.uri)
            if handler is not None:
                return handler(self, element)
        if self.session is not None:
            return self.session.receivedFromClient(element)
        if element.uri == NS_TLS and element.name == "starttls":
            return self.onStartTLS(element)
        if element.uri == NS_SASL:
            return self.onSASL(element)
        if element.name in STANZA_NAMES and element.uri == NS_CLIENT:
            return self.onStanzaBeforeBind(element)
        if element.name in STANZA_NAMES:
            return self.xmlstream.sendStreamError(error.StreamError("invalid-namespace"))
        if self.username is None:
            return self.xmlstream.sendStreamError(error.StreamError("not-authorized"))
        return self.xmlstream.sendStreamError(error.StreamError("unsupported-stanza-type"))

    def onStartTLS(self, element):
        xs = self.xmlstream
        if self.encrypted or self.username is not None or self.server.tlsContext is None:
            xs.send(domish.Element((NS_TLS, "failure")))
            return xs.sendStreamError(error.StreamError("policy-violation"))
        xs.send(PROCEED)
        startTLS(xs.transport, self.server.tlsContextFor(self.host))
        self.encrypted = True
        xs.restartStream("starttls")
        xs.tlsStarted()

    def onStanzaBeforeBind(self, stanza):
        xs = self.xmlstream
        if self.username is None:
            handler = self.server.preAuthIQHandler(self.host, stanza)
            if handler is not None and self.mayNegotiateAuth():
                return handler(self, stanza)
            return xs.sendStreamError(error.StreamError("not-authorized"))
        if stanza.name == "iq" and stanza.getAttribute("type") == "set":
            child = _onlyChild(stanza)
            if child is not None and (child.uri, child.name) == (NS_BIND, "bind"):
                return self.onBind(stanza, child)
        if stanza.name == "iq" and stanza.getAttribute("type") in ("get", "set"):
            # RFC 6120 §7.1: no stanza may be processed before a resource is bound.
            return xs.send(stanzaError(stanza, "not-authorized", "auth"))
        return xs.sendStreamError(error.StreamError("not-authorized"))

    # SASL -------------------------------------------------------------------

    def onSASL(self, element):
        xs = self.xmlstream
        if self.username is not None:
            return xs.sendStreamError(error.StreamError(
                "policy-violation", text="already authenticated"))
        if element.name == "auth":
            return self.onAuth(element)
        if element.name == "response" and self.mechanism is not None:
            return self.step(self.mechanism.respond, element)
        if element.name == "abort":
            self.mechanism = None
            return self.saslFailure(SASLFailure("aborted"))
        return self.saslFailure(SASLFailure("malformed-request"))

    def onAuth(self, element):
        if not self.mayNegotiateAuth():
            return self.saslFailure(SASLFailure("encryption-required"))
        name = element.getAttribute("mechanism", "")
        binding = self.channelBinding()
        if name not in mechanismsFor(self.encrypted, binding):
            if name == "PLAIN":
                return self.saslFailure(SASLFailure("encryption-required"))
            return self.saslFailure(SASLFailure("invalid-mechanism"))
        self.mechanism = createMechanism(name, self.host, self.server.accounts,
                                         self.server.installSecret, binding)
        return self.step(self.mechanism.start, element)

    def step(self, method, element):
        text = str(element).strip()
        if element.name == "auth" and not text:
            data = None
        else:
            try:
                data = b"" if text == "=" else base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                self.mechanism = None
                return self.saslFailure(SASLFailure("incorrect-encoding"))
        try:
            outcome = method(data)
        except Exception:
            return self.stepFailed(failure.Failure())
        if isinstance(outcome, defer.Deferred):
            return outcome.addCallbacks(self.stepDone, self.stepFailed)
        # Answered at once (SCRAM with cached keys): no Deferred. What the
        # answer raises is logged, as an errback-less Deferred's would be.
        try:
            self.stepDone(outcome)
        except Exception:
            log.err(None, "SASL answer failed")

    def stepDone(self, result):
        xs = self.xmlstream
        if xs.stream is None:
            return
        if result[0] == "challenge":
            # Base64 needs no escaping.
            xs.send(SASL_CHALLENGE % (base64.b64encode(result[1]).decode("ascii") or "="))
            return
        self.mechanism = None
        delay = self.server.loginThrottle.successDelay(xs.peerAddress, xs.factory.clock.seconds())
        self._answerLater(delay, self._succeeded, result)

    def _succeeded(self, result):
        xs = self.xmlstream
        _, additional, username = result
        self.username = username
        if additional:
            xs.send(SASL_SUCCESS_WITH_DATA % base64.b64encode(additional).decode("ascii"))
        else:
            xs.send(SASL_SUCCESS)
        xs.otherEntity = None
        xs.restartStream("sasl")
        xs.setStanzaSizeLimit(self.server.stanzaSizeLimit)

    def stepFailed(self, failure):
        account = getattr(self.mechanism, "username", None)
        if account is not None:
            account = "%s@%s" % (account, self.host)
        self.mechanism = None
        if not failure.check(SASLFailure):
            log.err(failure, "SASL step failed")
            return self.saslFailure(SASLFailure("temporary-auth-failure"))
        return self.saslFailure(failure.value, account)

    def saslFailure(self, reason, account=None):
        """
        Every failure but the server's own (``temporary-auth-failure``) is
        a failed attempt: on this stream (``max_auth_attempts``) and for the
        login throttle, which may delay the answer.
        """
        xs = self.xmlstream
        if xs.stream is None:
            return
        delay = 0
        if reason.condition != "temporary-auth-failure":
            self.failedAuths += 1
            delay = self.server.loginThrottle.failed(
                xs.peerAddress, account, xs.factory.clock.seconds())
        self._answerLater(delay, self._failed, reason)

    def _failed(self, reason):
        xs = self.xmlstream
        element = domish.Element((NS_SASL, "failure"))
        element.addElement(reason.condition)
        if reason.text:
            element.addElement("text", content=reason.text)
        xs.send(element)
        if self.failedAuths >= self.server.maxAuthAttempts:
            xs.sendStreamError(error.StreamError(
                "policy-violation", text="too many failed authentication attempts"))

    def _answerLater(self, delay, answer, *args):
        """Answer now, or after ``delay`` seconds reading nothing meanwhile."""
        xs = self.xmlstream
        if not delay:
            return answer(*args)
        if not self._throttleLogged:
            self._throttleLogged = True
            log.msg("c2s %s: login throttled, SASL answers delayed (%gs)" % (
                xs.peerAddress, delay))
        xs.readGate.close(LOGIN_THROTTLE)
        self._answerPending = True

        def answerNow():
            self._answerPending = False
            if xs.stream is None or xs.transport is None:
                return
            xs.readGate.open(LOGIN_THROTTLE)
            answer(*args)
            held, self._heldElements = self._heldElements, []
            if held and self.username is not None:
                # Sent after the SASL response, before the new stream header.
                return xs.pipelinedBeforeRestart("sasl")
            for element in held:
                if getattr(xs, "_closing", False):
                    return
                self.elementReceived(element)
        xs.factory.clock.callLater(delay, answerNow)

    # Resource binding ---------------------------------------------------------

    def onBind(self, iq, bind):
        xs = self.xmlstream
        resource = (bind.resource and str(bind.resource).strip()) or ""
        if not resource:
            resource = uuid.uuid4().hex[:12]
        try:
            full = JID(tuple=(self.username, self.host, resource))
        except (InvalidFormat, UnicodeError, ValueError):
            return xs.send(stanzaError(iq, "bad-request", "modify", "invalid resource"))
        if len(full.resource.encode("utf-8")) > 1023:
            return xs.send(stanzaError(iq, "bad-request", "modify", "resource too long"))
        self.session = self.server.sessions.bind(full, xs)
        xs.send(resultText(iq, BIND_PAYLOAD % escapeToXml(full.full())))
        self.server.resourceBound(self.session)


def _onlyChild(stanza):
    children = [c for c in stanza.elements()]
    if len(children) != 1:
        return None
    return children[0]
