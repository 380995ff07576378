"""
SCRAM (RFC 5802, RFC 7677) key derivation and the server side of the exchange.

Only the derived keys are ever stored: StoredKey lets the server check a
client proof, ServerKey lets it prove itself; neither gives the password back.
"""

import base64
import hashlib
import hmac
import os
import unicodedata
from dataclasses import dataclass

HASHES = {"sha1": hashlib.sha1, "sha256": hashlib.sha256}
DEFAULT_ITERATIONS = 4096


@dataclass(frozen=True)
class ScramCredentials:
    salt: bytes
    iterations: int
    storedKey: bytes
    serverKey: bytes


def saslprep(password):
    """
    A practical SASLprep (RFC 4013): map non-ASCII spaces to space, drop
    characters mapped to nothing, NFKC-normalise. Clients do the same, so the
    derived keys match for any password a user can type.
    """
    mapped = []
    for ch in password:
        if ch in "\u00ad\u034f\u1806\u180b\u180c\u180d\u200b\u200c\u200d\u2060\ufe00\ufeff":
            continue
        if unicodedata.category(ch) == "Zs":
            ch = " "
        mapped.append(ch)
    return unicodedata.normalize("NFKC", "".join(mapped))


def deriveCredentials(password, hashName, salt=None, iterations=DEFAULT_ITERATIONS):
    digest = HASHES[hashName]
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac(hashName, saslprep(password).encode("utf-8"), salt, iterations)
    clientKey = hmac.new(salted, b"Client Key", digest).digest()
    storedKey = digest(clientKey).digest()
    serverKey = hmac.new(salted, b"Server Key", digest).digest()
    return ScramCredentials(salt, iterations, storedKey, serverKey)


def fakeCredentials(secret, hashName, username):
    """
    Credentials for an account that does not exist, indistinguishable from
    a real one's from outside: a 16-byte salt keyed by the install secret,
    different per hash, and keys that no password matches.
    """
    material = hmac.new(secret, ("%s\0%s" % (hashName, username)).encode("utf-8"),
                        hashlib.sha512).digest()
    return ScramCredentials(material[:16], DEFAULT_ITERATIONS, material[16:48], material[48:])


class ScramError(Exception):
    """The client's SCRAM message is malformed or its proof is wrong."""

    def __init__(self, condition, text=None):
        Exception.__init__(self, condition, text)
        self.condition = condition
        self.text = text


def _parseAttributes(message):
    attrs = {}
    for part in message.split(","):
        if len(part) < 2 or part[1] != "=":
            raise ScramError("malformed-request", "bad SCRAM attribute")
        attrs[part[0]] = part[2:]
    return attrs


class ScramServer:
    """
    One server-side SCRAM exchange. ``lookup(username)`` returns a Deferred
    firing ScramCredentials or None; an unknown user still gets a fake
    challenge so that account existence does not leak through timing or
    error codes.
    """

    def __init__(self, hashName, lookup, secret=b"", channelBinding=None, plus=False):
        self.hashName = hashName
        self.secret = secret
        self.digest = HASHES[hashName]
        self.lookup = lookup
        self.username = None
        self.credentials = None
        # RFC 5802 §6: ``channelBinding`` (with ``types`` and ``data(type)``)
        # is what this stream offers; ``plus`` says the -PLUS mechanism runs.
        self.channelBinding = channelBinding
        self.plus = plus
        self.bindingData = b""

    def parseClientFirst(self, data):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ScramError("malformed-request", "client-first is not UTF-8")
        parts = text.split(",", 2)
        if len(parts) != 3:
            raise ScramError("malformed-request", "bad client-first message")
        gs2flag, authzid, bare = parts
        self._checkChannelBinding(gs2flag)
        if authzid and not authzid.startswith("a="):
            raise ScramError("malformed-request", "bad authzid")
        attrs = _parseAttributes(bare)
        if "m" in attrs:
            raise ScramError("malformed-request", "mandatory extension not supported")
        if "n" not in attrs or "r" not in attrs or not attrs["r"]:
            raise ScramError("malformed-request", "missing username or nonce")
        username = attrs["n"].replace("=2C", ",").replace("=3D", "=")
        self.gs2header = gs2flag + "," + authzid + ","
        self.authzid = authzid[2:] if authzid else None
        self.clientFirstBare = bare
        self.clientNonce = attrs["r"]
        self.username = username
        return username

    def _checkChannelBinding(self, gs2flag):
        offered = self.channelBinding.types if self.channelBinding is not None else []
        if self.plus:
            if not gs2flag.startswith("p="):
                raise ScramError("malformed-request", "a -PLUS mechanism needs channel binding")
            kind = gs2flag[2:]
            data = self.channelBinding.data(kind) if kind in offered else None
            if data is None:
                raise ScramError("malformed-request",
                                 "unsupported channel binding type %r" % kind)
            self.bindingData = data
        elif gs2flag.startswith("p="):
            raise ScramError("malformed-request", "channel binding needs a -PLUS mechanism")
        elif gs2flag == "y" and offered:
            # The client could bind but believes we cannot: the -PLUS
            # mechanisms were stripped on the way (RFC 5802 §6).
            raise ScramError("not-authorized", "channel binding was offered: downgrade")
        elif gs2flag not in ("n", "y"):
            raise ScramError("malformed-request", "bad gs2 header")

    def serverFirst(self, credentials, saltName=None):
        """
        Build server-first; ``credentials`` None means an unknown user, who
        gets the salt ``fakeCredentials`` gives ``saltName`` (the prepared
        name, so that case variants of one unknown name look alike too).
        """
        if credentials is None:
            self.credentials = None
            fake = fakeCredentials(self.secret, self.hashName, saltName or self.username)
            salt, iterations = fake.salt, fake.iterations
        else:
            self.credentials = credentials
            salt, iterations = credentials.salt, credentials.iterations
        self.nonce = self.clientNonce + base64.b64encode(os.urandom(18)).decode("ascii")
        self.serverFirstMessage = "r=%s,s=%s,i=%d" % (
            self.nonce, base64.b64encode(salt).decode("ascii"), iterations)
        return self.serverFirstMessage.encode("ascii")

    def verifyClientFinal(self, data):
        """Check the proof; return server-final (``v=...``) bytes."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ScramError("malformed-request", "client-final is not UTF-8")
        withoutProof, sep, proofPart = text.rpartition(",p=")
        if not sep:
            raise ScramError("malformed-request", "client-final has no proof")
        attrs = _parseAttributes(withoutProof)
        expectedBinding = base64.b64encode(
            self.gs2header.encode("utf-8") + self.bindingData).decode("ascii")
        if attrs.get("c") != expectedBinding:
            raise ScramError("malformed-request", "channel binding data mismatch")
        if attrs.get("r") != self.nonce:
            raise ScramError("malformed-request", "nonce mismatch")
        try:
            proof = base64.b64decode(proofPart, validate=True)
        except ValueError:
            raise ScramError("malformed-request", "proof is not base64")
        if self.credentials is None:
            raise ScramError("not-authorized")
        authMessage = ",".join((self.clientFirstBare, self.serverFirstMessage,
                                withoutProof)).encode("utf-8")
        creds = self.credentials
        signature = hmac.new(creds.storedKey, authMessage, self.digest).digest()
        if len(proof) != len(signature):
            raise ScramError("not-authorized")
        # One XOR of two integers, not a generator step per byte.
        clientKey = (int.from_bytes(proof, "big") ^ int.from_bytes(signature, "big")).to_bytes(
            len(signature), "big")
        if not hmac.compare_digest(self.digest(clientKey).digest(), creds.storedKey):
            raise ScramError("not-authorized")
        serverSignature = hmac.new(creds.serverKey, authMessage, self.digest).digest()
        return b"v=" + base64.b64encode(serverSignature)
