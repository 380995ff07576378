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
client sending huge or ever-new addresses cannot grow the memo.
"""

import functools

from twisted.words.protocols.jabber import jid as _jid

CACHE_SIZE = 16384
MAX_JID_LENGTH = 3 * 1023 + 2

_parse = _jid.parse
_prep = _jid.prep


@functools.lru_cache(maxsize=CACHE_SIZE)
def _cachedParse(jidstring):
    return _parse(jidstring)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _cachedPrep(user, host, resource):
    return _prep(user, host, resource)


def parse(jidstring):
    if type(jidstring) is str and len(jidstring) <= MAX_JID_LENGTH:
        return _cachedParse(jidstring)
    return _parse(jidstring)


def prep(user, host, resource):
    if (type(user) in (str, type(None)) and type(host) is str
            and type(resource) in (str, type(None))
            and len(user or "") + len(host) + len(resource or "") <= MAX_JID_LENGTH):
        return _cachedPrep(user, host, resource)
    return _prep(user, host, resource)


def install():
    """Route Twisted's JID() through the memo (idempotent)."""
    _jid.parse = parse
    _jid.prep = prep


install()
