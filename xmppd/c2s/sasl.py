"""
Server-side SASL mechanisms for c2s streams (RFC 6120 §6, RFC 4616, RFC 5802).

A mechanism is a small object driven by the negotiator: ``start(initial)``
and ``respond(data)`` answer ``("challenge", bytes)`` or ``("success",
bytes-or-None, username)``, or raise SASLFailure; either may instead return
a Deferred of that answer when it must wait (for the account's keys, for
PBKDF2 on a thread). A SCRAM login of a cached account waits for nothing.
"""

import hmac

from twisted.internet import defer, threads
from twisted.words.protocols.jabber.jid import InvalidFormat, JID

from xmppd.scram import ScramError, ScramServer, deriveCredentials, fakeCredentials

NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"


class SASLFailure(Exception):
    """Ends the exchange with ``<failure><CONDITION/></failure>``."""

    def __init__(self, condition, text=None):
        Exception.__init__(self, condition, text)
        self.condition = condition
        self.text = text


MAX_LOCALPART = 1023


def normaliseUsername(username, host):
    """
    Nodeprep the authentication identity, or fail as RFC 6120 §6.4.5 says.

    A name longer than any localpart (RFC 7622 §3.3) fails before
    stringprep, whose pure-Python cost grows with the length.
    """
    if len(username) > MAX_LOCALPART or len(username.encode("utf-8")) > MAX_LOCALPART:
        raise SASLFailure("not-authorized")
    try:
        return JID(tuple=(username, host, None)).user
    except (InvalidFormat, UnicodeError, ValueError):
        raise SASLFailure("not-authorized")


class ScramMechanism:
    """SCRAM-SHA-1 / SCRAM-SHA-256, and their -PLUS variants with ``plus``."""

    def __init__(self, hashName, host, accounts, secret, channelBinding=None, plus=False):
        self.host = host
        self.accounts = accounts

        # Not a bound method: the exchange referring back to its mechanism
        # made a cycle, which kept both (and the channel binding) after a
        # login until the next collection of cycles.
        def lookup(username):
            return accounts.getScramCredentials(username + "@" + host, hashName)

        def cached(username):
            return accounts.cachedScramCredentials(username + "@" + host, hashName)

        self._lookup = lookup
        self._cached = cached
        self.scram = ScramServer(hashName, lookup, secret, channelBinding, plus)
        self.step = 0

    def start(self, initial):
        if initial is None:
            return ("challenge", b"")
        try:
            raw = self.scram.parseClientFirst(initial)
        except ScramError as e:
            raise SASLFailure(e.condition, e.text)
        try:
            self.username = normaliseUsername(raw, self.host)
        except SASLFailure:
            self.username = None
        authzid = self.scram.authzid
        if authzid and authzid not in (raw, self.username, "%s@%s" % (self.username, self.host)):
            # Acting as someone else (proxy authorisation) is not offered.
            raise SASLFailure("invalid-authzid")
        if self.username is None:
            return self._serverFirst(None)
        credentials = self._cached(self.username)
        if credentials is not None:
            return self._serverFirst(credentials)
        return self._lookup(self.username).addCallback(self._serverFirst)

    def _serverFirst(self, credentials):
        self.step = 1
        return ("challenge", self.scram.serverFirst(credentials, self.username))

    def respond(self, data):
        if self.step == 0:
            return self.start(data)
        if self.step == 1:
            self.step = 2
            try:
                final = self.scram.verifyClientFinal(data)
            except ScramError as e:
                raise SASLFailure(e.condition, e.text)
            return ("success", final, self.username)
        raise SASLFailure("malformed-request")


class PlainMechanism:
    """PLAIN (RFC 4616), offered only on encrypted streams."""

    username = None

    def __init__(self, host, accounts, secret):
        self.host = host
        self.accounts = accounts
        self.secret = secret

    @defer.inlineCallbacks
    def start(self, initial):
        if initial is None:
            return ("challenge", b"")
        try:
            authzid, authcid, password = initial.decode("utf-8").split("\x00")
        except (UnicodeDecodeError, ValueError):
            raise SASLFailure("malformed-request")
        username = self.username = normaliseUsername(authcid, self.host)
        if authzid and authzid not in (username, username + "@" + self.host):
            raise SASLFailure("invalid-authzid")
        credentials = yield self.accounts.getScramCredentials(username + "@" + self.host, "sha256")
        if credentials is None:
            # The same PBKDF2 as for a real account, so that the time taken
            # does not tell whether the account exists.
            credentials = fakeCredentials(self.secret, "sha256", username)
        # PBKDF2 takes milliseconds: in a thread, so other streams go on meanwhile.
        valid = yield threads.deferToThread(_checkPassword, password, credentials)
        if not valid:
            raise SASLFailure("not-authorized")
        return ("success", None, username)

    def respond(self, data):
        return self.start(data)


def _checkPassword(password, credentials):
    derived = deriveCredentials(password, "sha256", credentials.salt, credentials.iterations)
    return hmac.compare_digest(derived.storedKey, credentials.storedKey)


def mechanismsFor(encrypted, channelBinding=None):
    """
    The mechanisms offered on a stream, strongest first; PLAIN only under
    TLS, the -PLUS ones only where the TLS has a channel binding to offer.
    """
    names = ["SCRAM-SHA-256", "SCRAM-SHA-1"]
    if encrypted and channelBinding is not None and channelBinding.types:
        names = ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"] + names
    if encrypted:
        names.append("PLAIN")
    return names


def createMechanism(name, host, accounts, secret, channelBinding=None):
    """
    ``accounts``: the AccountManager (``getScramCredentials``); ``secret``:
    the install secret that keys unknown users' fake salts.
    """
    if name == "SCRAM-SHA-256-PLUS":
        return ScramMechanism("sha256", host, accounts, secret, channelBinding, plus=True)
    if name == "SCRAM-SHA-1-PLUS":
        return ScramMechanism("sha1", host, accounts, secret, channelBinding, plus=True)
    if name == "SCRAM-SHA-256":
        return ScramMechanism("sha256", host, accounts, secret, channelBinding)
    if name == "SCRAM-SHA-1":
        return ScramMechanism("sha1", host, accounts, secret, channelBinding)
    if name == "PLAIN":
        return PlainMechanism(host, accounts, secret)
    raise SASLFailure("invalid-mechanism")
