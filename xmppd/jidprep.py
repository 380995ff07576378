"""
A bounded memo in front of Twisted's JID parsing.

``JID("alice@example.org/phone")`` runs nodeprep, nameprep and resourceprep
(RFC 7622 stringprep, in pure Python) on every call; the server parses the
same handful of addresses for every stanza it routes (``to``, ``from``, the
bare JID of each), and profiling the store, route and login benchmarks put
a quarter of the reactor's time in stringprep. ``parse`` and ``prep`` are
pure functions of their strings, so their results are memoised here: a
hit returns the same tuple of strings a fresh parse would, a miss (and every
invalid JID, whose exception is never cached) goes to Twisted unchanged.

Only strings no longer than a valid JID can be (three 1023-byte parts and
two separators) are remembered, and at most ``CACHE_SIZE`` of them, so a
client sending huge or ever-new addresses cannot grow the memo. Twisted's
own ``internJID`` keeps every address it is given, for good, and its
``JID.userhostJID()`` calls it for every full JID: ``install`` puts a
bounded memo in its place, so a client spraying ever-new addresses costs
the server nothing that lasts.

Every part is held to RFC 7622's limit of 1023 bytes. A part longer than
that many characters is refused before stringprep, so that preparing a
hostile address costs no more than preparing the longest valid one.
"""

import functools
import re

from twisted.words.protocols.jabber import jid as _jid
from twisted.words.protocols.jabber.xmpp_stringprep import nameprep, nodeprep, resourceprep

CACHE_SIZE = 16384
# Domains are few (the server's own and its peers'), but a client may name
# any number: bounded like the rest.
DOMAIN_CACHE_SIZE = 1024
MAX_PART = 1023
MAX_JID_LENGTH = 3 * MAX_PART + 2

_parse = _jid.parse
# Twisted's own, kept to compare against (``install`` replaces it).
TWISTED_PREP = _jid.prep

# What stringprep does to pure ASCII, without its tables. Nodeprep maps
# only A-Z (table B.2) and prohibits the space (C.1.1), the controls
# (C.2.1) and the eight characters RFC 7622 §3.3.1 names; resourceprep
# maps nothing and prohibits only the controls. NFKC leaves ASCII as it is,
# and no ASCII character is unassigned or right-to-left. Anything else,
# and any ASCII string with a prohibited character (whose error Twisted
# words), goes to Twisted's profiles; tests/test_jidprep.py holds the two
# paths to the same answers.
_NODE_PROHIBITED_ASCII = re.compile("[\x00-\x20\"&'/:<>@\x7f]")
_RESOURCE_PROHIBITED_ASCII = re.compile("[\x00-\x1f\x7f]")


def nodeprepared(localpart):
    """RFC 7622 nodeprep (Twisted's ``nodeprep.prepare``), fast for ASCII."""
    if localpart.isascii() and _NODE_PROHIBITED_ASCII.search(localpart) is None:
        return localpart.lower()
    return nodeprep.prepare(localpart)


def resourceprepared(resourcepart):
    """RFC 7622 resourceprep (Twisted's ``resourceprep.prepare``), fast for ASCII."""
    if resourcepart.isascii() and _RESOURCE_PROHIBITED_ASCII.search(resourcepart) is None:
        return resourcepart
    return resourceprep.prepare(resourcepart)


@functools.lru_cache(maxsize=DOMAIN_CACHE_SIZE)
def domainprepared(domainpart):
    """
    Twisted's nameprep, remembered: a login's new resource should not redo
    its domain. An empty label ("a..b", ".b") is refused as invalid, where
    Twisted's nameprep fails with an IndexError that no caller expects.
    """
    try:
        return nameprep.prepare(domainpart)
    except IndexError:
        raise UnicodeError("empty label in %r" % (domainpart,))


def _prep(user, host, resource):
    """Twisted's ``jid.prep``, with the preparations above: the same answers and errors."""
    if user:
        try:
            user = nodeprepared(str(user))
        except UnicodeError:
            raise _jid.InvalidFormat("Invalid character in username")
    else:
        user = None
    if not host:
        raise _jid.InvalidFormat("Server address required.")
    try:
        host = domainprepared(str(host))
    except UnicodeError:
        raise _jid.InvalidFormat("Invalid character in hostname")
    if resource:
        try:
            resource = resourceprepared(str(resource))
        except UnicodeError:
            raise _jid.InvalidFormat("Invalid character in resource")
    else:
        resource = None
    return (user, host, resource)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _cachedParse(jidstring):
    return _parse(jidstring)


def _checkedPrep(user, host, resource):
    for name, part in (("localpart", user), ("domainpart", host), ("resourcepart", resource)):
        if part and len(part) > MAX_PART:
            raise _jid.InvalidFormat("%s longer than %d bytes (RFC 7622)" % (name, MAX_PART))
    prepared = _prep(user, host, resource)
    for name, part in zip(("localpart", "domainpart", "resourcepart"), prepared):
        if part and len(part.encode("utf-8")) > MAX_PART:
            raise _jid.InvalidFormat("%s longer than %d bytes (RFC 7622)" % (name, MAX_PART))
    return prepared


@functools.lru_cache(maxsize=CACHE_SIZE)
def _cachedPrep(user, host, resource):
    return _checkedPrep(user, host, resource)


def parse(jidstring):
    if type(jidstring) is str and len(jidstring) <= MAX_JID_LENGTH:
        return _cachedParse(jidstring)
    return _parse(jidstring)


def prep(user, host, resource):
    if (type(user) in (str, type(None)) and type(host) is str
            and type(resource) in (str, type(None))
            and len(user or "") + len(host) + len(resource or "") <= MAX_JID_LENGTH):
        return _cachedPrep(user, host, resource)
    return _checkedPrep(user, host, resource)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _cachedJID(jidstring):
    return _jid.JID(jidstring)


def internJID(jidstring):
    """Twisted's ``internJID``, remembering at most ``CACHE_SIZE`` addresses."""
    if type(jidstring) is str and len(jidstring) <= MAX_JID_LENGTH:
        return _cachedJID(jidstring)
    return _jid.JID(jidstring)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _cachedForms(jidstring):
    jid = _cachedJID(jidstring)
    return jid.full(), jid.userhost()


def preparedForms(jidstring):
    """
    ``(full, bare)``: the prepared address as a string and its bare JID,
    remembered for the addresses every message names (its ``to``, which
    is stamped prepared and then looked up by its bare JID at each step);
    ``InvalidFormat`` for an invalid one, never remembered.
    """
    if type(jidstring) is str and len(jidstring) <= MAX_JID_LENGTH:
        return _cachedForms(jidstring)
    jid = _jid.JID(jidstring)
    return jid.full(), jid.userhost()


def install():
    """Route Twisted's JID(), and its interning, through the memos (idempotent)."""
    _jid.parse = parse
    _jid.prep = prep
    if _jid.internJID is not internJID:
        _jid.internJID = internJID
        # What was interned before (at import time) is let go as well.
        for name in dir(_jid):
            if name.endswith("__internJIDs"):
                getattr(_jid, name).clear()


install()
