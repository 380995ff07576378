"""
What each client resource wants to be notified of: XEP-0115 entity
capabilities, as PEP's ``+notify`` filter (XEP-0163 §4.4) needs them.

A client announces ``<c hash='sha-1' node=… ver=…/>`` in its presence. The
first time the server meets a ``ver`` it asks that resource for disco#info
on ``node#ver``, recomputes the hash over the answer (§5.1, with the §5.4
checks, in ``xmppd.entitycaps``) and, only if it matches, caches the
features under ``(hash, ver)``: every later client of the same software
costs no query. An answer
that does not verify, a legacy ``<c/>`` without ``hash``, an error or no
answer at all serve that one resource only and are never cached, so one
client cannot poison what others are believed to want. The cache is an
LRU bounded by ``caps_cache_size``.
"""

import collections
import itertools

from twisted.internet import defer
from twisted.python import log
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish
from wokkel.disco import NS_DISCO_INFO
from wokkel.subprotocols import XMPPHandler

from xmppd.api import CAPS_HASHES as HASHES
from xmppd.api import capsOf, capsVer

# A client that does not answer its disco#info query within this many
# seconds is taken to want nothing until its next caps change.
QUERY_TIMEOUT = 30
NOTHING = frozenset()


def featuresOf(query):
    return frozenset(f.getAttribute("var") for f in query.elements(NS_DISCO_INFO, "feature")
                     if f.getAttribute("var"))


def notifyNodes(features):
    """The nodes a feature set asks notifications of (``NODE+notify``)."""
    return frozenset(f[:-len("+notify")] for f in features if f.endswith("+notify"))


class CapsCache:
    """Verified feature sets by ``(hash, ver)``, the least recently used dropped first."""

    def __init__(self, size):
        self.size = size
        self._entries = collections.OrderedDict()

    def get(self, key):
        features = self._entries.get(key)
        if features is not None:
            self._entries.move_to_end(key)
        return features

    def put(self, key, features):
        self._entries[key] = features
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def __len__(self):
        return len(self._entries)


class ClientCaps(XMPPHandler):
    """
    The features of each available client resource by full JID: the
    host's own, and the remote contacts' that ``remote`` (``RemoteResources``)
    tracks, learnt from their presence (and a disco#info query when needed).
    """

    _ids = itertools.count(1)

    def __init__(self, host, cacheSize, clock=None, remote=None):
        XMPPHandler.__init__(self)
        if clock is None:
            from twisted.internet import reactor as clock
        self.host = host
        self.remote = remote
        self.clock = clock
        self.cache = CapsCache(cacheSize)
        self.queries = 0
        self._known = {}      # full JID -> (caps, features)
        self._pending = {}    # iq id -> (full JID, Deferred, timer)
        self._askedOf = {}    # full JID -> id of the query it has not answered yet
        self._inflight = {}   # (hash, ver) -> [Deferred] waiting for a query's answer

    def connectionInitialized(self):
        self.xmlstream.addObserver('/iq[@type="result"]', self.onResponse, 1)
        self.xmlstream.addObserver('/iq[@type="error"]', self.onResponse, 1)

    def features(self, jid):
        """What the resource is known to support right now (nothing if not yet known)."""
        known = self._known.get(jid)
        return known[1] if known is not None else NOTHING

    def featuresFor(self, jid, caps):
        """What ``jid`` was known to support when it announced ``caps`` (nothing if unknown)."""
        known = self._known.get(jid)
        if known is not None and known[0] == caps:
            return known[1]
        if caps is not None and caps[0] in HASHES:
            return self.cache.get((caps[0], caps[2])) or NOTHING
        return NOTHING

    def forget(self, jid):
        self._known.pop(jid, None)
        self._timedOut(self._askedOf.get(jid))

    def resolve(self, session):
        """
        Fire the features of ``session`` given its current presence, asking
        the client only when neither it nor the cache knows its ``ver``.
        """
        return self.resolveCaps(session.jid.full(), capsOf(session.presence))

    def resolvedNow(self, jid, caps):
        """
        The features of ``jid`` announcing ``caps`` if nothing need be asked
        (no caps, or caps this resource or the cache knows), else None: a
        login without caps, or with a known client's, waits for nothing.
        """
        if caps is None:
            self._known[jid] = (None, NOTHING)
            return NOTHING
        known = self._known.get(jid)
        if known is not None and known[0] == caps:
            return known[1]
        hashName, _node, ver = caps
        if hashName in HASHES:
            features = self.cache.get((hashName, ver))
            if features is not None:
                self._known[jid] = (caps, features)
                return features
        return None

    def resolveCaps(self, jid, caps):
        """Fire the features of the resource ``jid`` (local or remote) announcing ``caps``."""
        features = self.resolvedNow(jid, caps)
        if features is not None:
            return defer.succeed(features)
        hashName, node, ver = caps
        cacheable = hashName in HASHES
        if cacheable:
            waiting = self._inflight.get((hashName, ver))
            if waiting is not None:
                d = defer.Deferred()
                waiting.append(d)
                d.addCallback(self._remember, jid, caps)
                return d
            self._inflight[(hashName, ver)] = []
        d = self._query(jid, "%s#%s" % (node, ver))
        d.addCallback(self._answered, caps, cacheable)
        d.addCallback(self._remember, jid, caps)
        return d

    def currentCaps(self, jid):
        """The caps ``jid`` announces now: a local session's, or a remote contact's."""
        session = self.host.sessions.get(jid)
        if session is not None:
            return capsOf(session.presence) if session.available else None
        return self.remote.capsOf(jid) if self.remote is not None else None

    def _remember(self, features, jid, caps):
        # Only while the resource still announces these caps: an answer that
        # arrives after it went away or changed them says nothing of it now.
        if self.currentCaps(jid) == caps:
            self._known[jid] = (caps, features)
        return features

    def _answered(self, query, caps, cacheable):
        hashName, node, ver = caps
        features = NOTHING if query is None else featuresOf(query)
        verified = query is not None and cacheable and capsVer(query, hashName) == ver
        if verified:
            self.cache.put((hashName, ver), features)
        if query is not None and cacheable and not verified:
            log.msg("caps: the answer for ver %r (%s) does not verify; not cached"
                    % (ver, node))
        for waiter in self._inflight.pop((hashName, ver), []) if cacheable else []:
            waiter.callback(features if verified else NOTHING)
        return features

    def _query(self, jid, node):
        # One question per resource at a time: a client that changes its
        # caps faster than it answers cannot pile up pending queries.
        self._timedOut(self._askedOf.get(jid))
        self.queries += 1
        iq = domish.Element((None, "iq"))
        iq["type"] = "get"
        iq["id"] = "caps%d" % next(self._ids)
        iq["from"] = self.host.domain
        iq["to"] = jid
        iq.addElement((NS_DISCO_INFO, "query"))["node"] = node
        d = defer.Deferred()
        timer = self.clock.callLater(QUERY_TIMEOUT, self._timedOut, iq["id"])
        self._pending[iq["id"]] = (jid, d, timer)
        self._askedOf[jid] = iq["id"]
        self.host.send(iq)
        return d

    def _timedOut(self, iqId):
        jid, d, timer = self._pending.pop(iqId, (None, None, None))
        if d is not None:
            del self._askedOf[jid]
            if timer.active():
                timer.cancel()
            d.callback(None)

    def onResponse(self, iq):
        entry = self._pending.get(iq.getAttribute("id"))
        if entry is None or getattr(iq, "handled", False):
            return
        jid, d, timer = entry
        # Only the resource asked may answer for itself.
        if JID(iq.getAttribute("from", "")).full() != jid:
            return
        iq.handled = True
        del self._pending[iq["id"]]
        del self._askedOf[jid]
        timer.cancel()
        query = None
        if iq.getAttribute("type") == "result":
            query = next(iq.elements(NS_DISCO_INFO, "query"), None)
        d.callback(query)

    def connectionLost(self, reason):
        for _, d, timer in self._pending.values():
            if timer.active():
                timer.cancel()
        self._pending.clear()
        self._askedOf.clear()
        XMPPHandler.connectionLost(self, reason)
