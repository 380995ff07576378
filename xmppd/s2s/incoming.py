"""
Incoming s2s streams: this server as Receiving Server (a peer delivers
stanzas to our domains) and as Authoritative Server (a peer asks whether
a dialback key we issued is genuine).

One stream may carry several domain pairs (XEP-0220 §2.5 multiplexing):
each ``(local, remote)`` pair is authenticated on its own, by SASL EXTERNAL
when the peer's certificate proves the stream's ``from`` domain (RFC 6120
§6.4), or by a dialback ``<db:result/>``, and every stanza is checked
against the pairs: its ``from`` domain must be an authenticated remote one
(else ``invalid-from``) and its ``to`` domain the local one of that pair.

Like the c2s negotiator this is a small state machine: every element that
arrives in the wrong state gets the stream error RFC 6120 names for it,
so a peer that skips STARTTLS when it is required learns why it failed.
"""

import base64
import binascii

from twisted.internet import protocol
from twisted.python import log
from twisted.words.protocols.jabber import error, xmlstream
from twisted.words.protocols.jabber.jid import InvalidFormat, JID
from twisted.words.xish import domish
from wokkel.server import NS_DIALBACK, generateKey

from xmppd.c2s.xmlstream import NS_STREAMS, HardenedXmlStream
from xmppd.tlstransport import startTLS

NS_SERVER = "jabber:server"
NS_CLIENT = "jabber:client"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_DIALBACK_FEATURE = "urn:xmpp:features:dialback"
STANZA_NAMES = ("iq", "message", "presence")

CERTIFICATE = "certificate"
DIALBACK = "dialback"


def asClientStanza(element):
    """
    Move a stanza from ``jabber:server`` to ``jabber:client`` in place.

    Inside the server every stanza is in the client namespace, as if it
    had come from a c2s stream: modules compare namespaces, offline storage
    keeps the text, and a client must never see ``xmlns='jabber:server'``.
    """
    if element.uri == NS_SERVER:
        element.uri = NS_CLIENT
    if element.defaultUri == NS_SERVER:
        element.defaultUri = NS_CLIENT
    for child in element.elements():
        asClientStanza(child)
    return element


def domainOf(text):
    """The domain part of a JID, or None when it is missing or malformed."""
    if not text:
        return None
    try:
        return JID(text).host
    except (InvalidFormat, UnicodeError, ValueError, IndexError):
        return None


class S2SListenAuthenticator(xmlstream.ListenAuthenticator):
    """Negotiates one incoming s2s stream and then admits its stanzas."""

    namespace = NS_SERVER

    def __init__(self, service):
        xmlstream.ListenAuthenticator.__init__(self)
        self.service = service
        self.encrypted = False
        self.local = None
        self.streamFrom = None
        self.certificateProblem = "no TLS"
        self.saslDone = False
        # (local, remote) → CERTIFICATE or DIALBACK
        self.pairs = {}

    @property
    def requireEncryption(self):
        return self.service.options.require_encryption

    # Stream start ---------------------------------------------------------

    def streamStarted(self, rootElement):
        xs = self.xmlstream
        if (rootElement.uri, rootElement.name) != (NS_STREAMS, "stream"):
            xs.namespace = NS_SERVER
            return xs.sendStreamError(error.StreamError("invalid-namespace"))
        to = rootElement.getAttribute("to", "").lower()
        rootElement.attributes.pop("to", None)
        xmlstream.ListenAuthenticator.streamStarted(self, rootElement)
        xs.prefixes = {NS_STREAMS: "stream", NS_DIALBACK: "db"}
        if xs.namespace != NS_SERVER:
            xs.namespace = NS_SERVER
            return xs.sendStreamError(error.StreamError("invalid-namespace"))
        if to not in self.service.localDomains:
            xs.thisEntity = JID(self.service.defaultDomain)
            return xs.sendStreamError(error.StreamError("host-unknown"))
        if self.local is not None and to != self.local:
            return xs.sendStreamError(error.StreamError("host-unknown"))
        self.local = to
        xs.thisEntity = JID(to)
        self.streamFrom = domainOf(rootElement.getAttribute("from"))
        xs.otherEntity = JID(self.streamFrom) if self.streamFrom else None
        if xs.version < (1, 0):
            # STARTTLS needs stream features, which RFC 3920 streams lack.
            return xs.sendStreamError(error.StreamError("unsupported-version"))
        if self.encrypted and self.streamFrom:
            self.certificateProblem = self.service.tls.verifiedDomain(
                xs.transport, self.streamFrom)
        xs.sendHeader()
        xs.send(self.features())

    def features(self):
        features = domish.Element((NS_STREAMS, "features"))
        if not self.encrypted:
            starttls = features.addElement((NS_TLS, "starttls"))
            if self.requireEncryption:
                starttls.addElement("required")
                return features
        if (self.encrypted and not self.saslDone and self.streamFrom
                and self.certificateProblem is None):
            mechanisms = features.addElement((NS_SASL, "mechanisms"))
            mechanisms.addElement("mechanism", content="EXTERNAL")
        dialback = features.addElement((NS_DIALBACK_FEATURE, "dialback"))
        dialback.addElement("errors")
        return features

    # Elements ---------------------------------------------------------------

    def elementReceived(self, element):
        xs = self.xmlstream
        if (element.uri, element.name) == (NS_TLS, "starttls"):
            return self.onStartTLS()
        if element.uri == NS_SASL and element.name == "auth":
            return self.onAuth(element)
        if not self.encrypted and self.requireEncryption:
            return xs.sendStreamError(error.StreamError(
                "policy-violation", text="STARTTLS is required"))
        if element.uri == NS_DIALBACK and element.name == "result":
            return self.onDialbackResult(element)
        if element.uri == NS_DIALBACK and element.name == "verify":
            return self.onDialbackVerify(element)
        if element.name in STANZA_NAMES and element.uri == NS_SERVER:
            return self.onStanza(element)
        if element.name in STANZA_NAMES:
            return xs.sendStreamError(error.StreamError("invalid-namespace"))
        return xs.sendStreamError(error.StreamError("unsupported-stanza-type"))

    def onStartTLS(self):
        xs = self.xmlstream
        if self.encrypted:
            return xs.sendStreamError(error.StreamError(
                "policy-violation", text="TLS is already on"))
        xs.send(domish.Element((NS_TLS, "proceed")))
        startTLS(xs.transport, self.service.tls.serverOptions(self.local))
        self.encrypted = True
        xs.reset()

    def onAuth(self, element):
        """RFC 6120 §6.4 with EXTERNAL: the certificate has proved the domain."""
        xs = self.xmlstream

        def failure(condition):
            reply = domish.Element((NS_SASL, "failure"))
            reply.addElement(condition)
            xs.send(reply)

        if element.getAttribute("mechanism") != "EXTERNAL":
            return failure("invalid-mechanism")
        if not self.encrypted or self.saslDone or not self.streamFrom:
            return failure("not-authorized")
        if self.certificateProblem is not None:
            return failure("not-authorized")
        text = str(element).strip()
        try:
            authzid = "" if text in ("", "=") else base64.b64decode(
                text, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return failure("incorrect-encoding")
        if authzid and authzid.lower() != self.streamFrom:
            return failure("invalid-authzid")
        if not self.service.admitRemote(self, self.streamFrom):
            return failure("temporary-auth-failure")
        xs.send(domish.Element((NS_SASL, "success")))
        self.saslDone = True
        self.authenticated(self.local, self.streamFrom, CERTIFICATE)
        xs.reset()

    def onDialbackResult(self, result):
        """XEP-0220 §2.1.2: check the key with the Authoritative Server."""
        xs = self.xmlstream
        local = domainOf(result.getAttribute("to"))
        remote = domainOf(result.getAttribute("from"))
        if local not in self.service.localDomains:
            return xs.sendStreamError(error.StreamError("host-unknown"))
        if remote is None:
            return xs.sendStreamError(error.StreamError("invalid-from"))
        if (local, remote) in self.pairs:
            return self.replyResult(local, remote, "valid")
        if self.encrypted and self.service.tls.verifiedDomain(xs.transport, remote) is None:
            # XEP-0344: a certificate that proves the domain makes the
            # DNS round trip of dialback unnecessary.
            return self.dialbackDone(local, remote, CERTIFICATE)
        if self.service.options.require_certificate:
            return self.replyResult(local, remote, "invalid", "not-authorized",
                                    "a valid certificate for %s is required" % remote)
        key = str(result).strip()
        d = self.service.verifyDialback(local, remote, xs.sid, key)

        def verified(valid):
            if valid:
                self.dialbackDone(local, remote, DIALBACK)
            else:
                self.replyResult(local, remote, "invalid", "not-authorized",
                                 "dialback key rejected by %s" % remote)

        def failed(reason):
            self.replyResult(local, remote, "invalid", "remote-server-not-found",
                             "could not reach %s to verify the key" % remote)

        d.addCallbacks(verified, failed)

    def dialbackDone(self, local, remote, method):
        if not self.service.admitRemote(self, remote):
            return self.replyResult(local, remote, "invalid", "resource-constraint",
                                    "too many connections from %s" % remote)
        self.authenticated(local, remote, method)
        self.replyResult(local, remote, "valid")

    def replyResult(self, local, remote, validity, condition=None, text=None):
        xs = self.xmlstream
        if not xs.transport or getattr(xs, "_closing", False):
            return
        reply = domish.Element((NS_DIALBACK, "result"))
        reply["from"] = local
        reply["to"] = remote
        if condition is None:
            reply["type"] = validity
        else:
            # XEP-0220 §2.4: a dialback error says why, where "invalid" would not.
            reply["type"] = "error"
            stanzaError = reply.addElement("error")
            stanzaError["type"] = "cancel" if condition != "resource-constraint" else "wait"
            stanzaError.addElement(("urn:ietf:params:xml:ns:xmpp-stanzas", condition))
            if text:
                stanzaError.addElement(("urn:ietf:params:xml:ns:xmpp-stanzas", "text"),
                                       content=text)
        xs.send(reply)

    def onDialbackVerify(self, verify):
        """XEP-0220 §2.3: we are the Authoritative Server for ``to``."""
        xs = self.xmlstream
        local = domainOf(verify.getAttribute("to"))
        receiving = domainOf(verify.getAttribute("from"))
        if local not in self.service.localDomains:
            return xs.sendStreamError(error.StreamError("host-unknown"))
        if receiving is None:
            return xs.sendStreamError(error.StreamError("invalid-from"))
        streamID = verify.getAttribute("id", "")
        expected = generateKey(self.service.secret, receiving, local, streamID)
        reply = domish.Element((NS_DIALBACK, "verify"))
        reply["from"] = local
        reply["to"] = receiving
        reply["id"] = streamID
        reply["type"] = "valid" if str(verify).strip() == expected else "invalid"
        xs.send(reply)

    def authenticated(self, local, remote, method):
        self.pairs[(local, remote)] = method
        self.service.inboundAuthenticated(self.xmlstream, local, remote, method)

    def onStanza(self, stanza):
        """RFC 6120 §13.9.1: a stanza speaks only for its stream's authenticated domains."""
        xs = self.xmlstream
        if not self.pairs:
            return xs.sendStreamError(error.StreamError(
                "not-authorized", text="authenticate before sending stanzas"))
        local = domainOf(stanza.getAttribute("to"))
        remote = domainOf(stanza.getAttribute("from"))
        if local is None or remote is None:
            return xs.sendStreamError(error.StreamError("improper-addressing"))
        if remote not in {r for _, r in self.pairs}:
            return xs.sendStreamError(error.StreamError(
                "invalid-from", text="%s is not authenticated on this stream" % remote))
        if (local, remote) not in self.pairs:
            return xs.sendStreamError(error.StreamError(
                "host-unknown", text="%s is not authenticated for %s" % (remote, local)))
        self.service.routeInbound(asClientStanza(stanza))


class S2SInboundStream(HardenedXmlStream):
    """An incoming s2s connection, bounded in size and in time to authenticate."""

    _authTimer = None

    def connectionMade(self):
        service = self.factory.service
        self.maxStanzaSize = service.options.stanza_size_limit
        HardenedXmlStream.connectionMade(self)
        self.peerAddress = getattr(self.transport.getPeer(), "host", None)
        if not service.inboundOpened(self):
            self.namespace = NS_SERVER
            self.thisEntity = JID(service.defaultDomain)
            return self.sendStreamError(error.StreamError(
                "resource-constraint", text="too many s2s connections"))
        self._authTimer = service.clock.callLater(
            service.options.auth_timeout, self._authTimedOut)

    def _authTimedOut(self):
        self._authTimer = None
        if not self.authenticator.pairs:
            self.sendStreamError(error.StreamError(
                "connection-timeout", text="not authenticated in time"))

    def onElement(self, element):
        if getattr(self, "_closing", False):
            return
        try:
            self.authenticator.elementReceived(element)
        except Exception:
            log.err(None, "s2s: failed on an incoming element")
            self.sendStreamError(error.StreamError("internal-server-error"))

    def connectionLost(self, reason):
        if self._authTimer is not None and self._authTimer.active():
            self._authTimer.cancel()
        self._authTimer = None
        HardenedXmlStream.connectionLost(self, reason)
        self.factory.service.inboundClosed(self)


class S2SServerFactory(protocol.ServerFactory):
    """The s2s listener's factory: one negotiator per incoming connection."""

    protocol = S2SInboundStream

    def __init__(self, service):
        self.service = service

    def buildProtocol(self, addr):
        xs = self.protocol(S2SListenAuthenticator(self.service))
        xs.factory = self
        return xs
