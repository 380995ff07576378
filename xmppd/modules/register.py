"""
In-band registration (XEP-0077): create an account, change its password,
remove it — all over an encrypted stream only.

Registration happens before authentication, so it is answered by the c2s
negotiator through a pre-auth IQ handler; password change and removal come
from a bound resource and go through the host like any other IQ. Account
creation is throttled per client address so that one host cannot fill the
user table (Prosody's ``min_seconds_between_registrations``).
"""

from twisted.internet import defer
from twisted.python import log
from twisted.words.protocols.jabber import error
from twisted.words.protocols.jabber.jid import InvalidFormat, JID
from twisted.words.protocols.jabber.xmlstream import toResponse
from twisted.words.xish import domish
from wokkel import data_form
from wokkel.subprotocols import IQHandlerMixin, XMPPHandler

from xmppd.stanzas import stanzaError
from xmppd.storage import UnknownUser, UserExists

NS_REGISTER = "jabber:iq:register"
NS_REGISTER_FEATURE = "http://jabber.org/features/iq-register"
REGISTER_GET = "/iq[@type='get']/query[@xmlns='%s']" % NS_REGISTER
REGISTER_SET = "/iq[@type='set']/query[@xmlns='%s']" % NS_REGISTER


def _field(query, name):
    """
    A field of the request: from a submitted XEP-0004 form (XEP-0077 §6)
    when the client sent one, else the legacy element of that name.
    """
    for child in query.elements():
        if (child.uri, child.name) == (data_form.NS_X_DATA, "x"):
            form = data_form.Form.fromElement(child)
            if form.formType == "submit":
                value = form.getValues().get(name)
                return None if value is None else str(value)
    for child in query.elements():
        if child.name == name and child.uri == NS_REGISTER:
            return str(child)
    return None


def _registrationForm(instructions):
    """The XEP-0077 §6 form, offered beside the legacy fields for clients that prefer it."""
    form = data_form.Form("form", title="Registration", instructions=[instructions],
                          formNamespace=NS_REGISTER)
    form.addField(data_form.Field("text-single", "username", label="User name", required=True))
    form.addField(data_form.Field("text-private", "password", label="Password", required=True))
    return form.toElement()


def _query(iq):
    return next(iq.elements(), None)


class Registration(XMPPHandler, IQHandlerMixin):
    iqHandlers = {REGISTER_GET: "onGet", REGISTER_SET: "onSet"}

    def __init__(self, host, options, clock=None):
        XMPPHandler.__init__(self)
        if clock is None:
            from twisted.internet import reactor as clock
        self.host = host
        self.options = options
        self.clock = clock
        self.lastRegistration = {}

    def connectionInitialized(self):
        self.xmlstream.addObserver(REGISTER_GET, self.handleRequest)
        self.xmlstream.addObserver(REGISTER_SET, self.handleRequest)
        self.host.addDiscoFeature(NS_REGISTER)
        if self.options.allow_registration:
            self.host.addStreamFeature(domish.Element((NS_REGISTER_FEATURE, "register")),
                                       "pre-auth")
            self.host.addPreAuthIQHandler(NS_REGISTER, self.onPreAuthIQ)

    # Before authentication: the registration form and account creation -----

    def onPreAuthIQ(self, negotiator, iq):
        xs = negotiator.xmlstream
        kind = iq.getAttribute("type")
        if kind == "get":
            reply = toResponse(iq, "result")
            query = reply.addElement((NS_REGISTER, "query"))
            instructions = "Choose a user name and password for %s." % self.host.domain
            query.addElement("instructions", content=instructions)
            query.addElement("username")
            query.addElement("password")
            query.addChild(_registrationForm(instructions))
            return xs.send(reply)
        if kind != "set":
            return xs.send(stanzaError(iq, "bad-request", "modify"))
        d = self.register(iq, xs.peerAddress)
        d.addCallback(lambda _: xs.send(toResponse(iq, "result")))
        d.addErrback(self._answerError, iq, xs.send)
        return d

    @defer.inlineCallbacks
    def register(self, iq, address):
        query = _query(iq)
        username, password = _field(query, "username"), _field(query, "password")
        jid = self.accountJID(username)
        if not password:
            raise error.StanzaError("not-acceptable", text="a password is required")
        last = self.lastRegistration.get(address)
        now = self.clock.seconds()
        interval = self.options.min_seconds_between_registrations
        if last is not None and now - last < interval:
            raise error.StanzaError("policy-violation", "wait",
                                    text="too many registrations from your address")
        # The address's slot is taken before the store is asked, not after:
        # twenty registrations sent at once all passed the check above
        # while the first one was still being written.
        self._forgetOlderThan(now - interval)
        self.lastRegistration[address] = now
        try:
            yield self.host.accounts.create(jid.userhost(), password)
        except BaseException as e:
            if self.lastRegistration.get(address) == now:
                if last is None:
                    del self.lastRegistration[address]
                else:
                    self.lastRegistration[address] = last
            if isinstance(e, UserExists):
                raise error.StanzaError("conflict", text="that user name is taken")
            raise
        log.msg("registered %s in-band" % jid.userhost())

    def _forgetOlderThan(self, cutoff):
        """Drop addresses whose wait is over, so the map stays as small as the window."""
        if len(self.lastRegistration) > 1000:
            self.lastRegistration = {
                address: when for address, when in self.lastRegistration.items()
                if when > cutoff}

    def accountJID(self, username):
        if not username:
            raise error.StanzaError("not-acceptable", text="a user name is required")
        try:
            jid = JID(tuple=(username, self.host.domain, None))
        except (InvalidFormat, UnicodeError, ValueError):
            raise error.StanzaError("jid-malformed", "modify", text="invalid user name")
        return jid

    # From a bound resource: status, password change, removal ------------------

    def onGet(self, iq):
        sender = self._checkOwnAccount(iq)
        reply = domish.Element((NS_REGISTER, "query"))
        reply.addElement("registered")
        reply.addElement("username", content=sender.user)
        reply.addElement("password")
        return reply

    def _checkOwnAccount(self, iq):
        sender = JID(iq["from"])
        if iq.getAttribute("to") not in (self.host.domain, sender.userhost()):
            raise error.StanzaError("forbidden", text="not your account")
        return sender

    @defer.inlineCallbacks
    def onSet(self, iq):
        sender = self._checkOwnAccount(iq)
        query = _query(iq)
        if any(child.name == "remove" for child in query.elements()):
            if not self.options.allow_removal:
                raise error.StanzaError("not-allowed", text="account removal is disabled here")
            yield self.removeAccount(sender, iq)
            return None
        username, password = _field(query, "username"), _field(query, "password")
        if username is not None and self.accountJID(username).user != sender.user:
            raise error.StanzaError("not-allowed", text="you can only change your own password")
        if not password:
            raise error.StanzaError("not-acceptable", text="a password is required")
        try:
            yield self.host.accounts.setPassword(sender.userhost(), password)
        except UnknownUser:
            raise error.StanzaError("not-authorized")
        return None

    @defer.inlineCallbacks
    def removeAccount(self, sender, iq):
        try:
            yield self.host.accounts.delete(sender.userhost())
        except UnknownUser:
            raise error.StanzaError("not-authorized")
        # The result goes out when this returns; the streams end right after
        # it, so the client learns of its removal first (XEP-0077 §3.2).
        self.clock.callLater(0, self._endSessions, sender.userhost())

    def _endSessions(self, bareJID):
        for session in self.host.sessions.resources(bareJID):
            session.sendStreamError("not-authorized", "account removed")

    def _answerError(self, failure, iq, send):
        if failure.check(error.StanzaError):
            return send(failure.value.toResponse(iq))
        log.err(failure, "in-band registration failed")
        return send(stanzaError(iq, "internal-server-error", "wait"))


def handlersFor(host, options):
    return [Registration(host, options)]
