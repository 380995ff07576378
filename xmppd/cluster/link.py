"""
A Redis connection that comes back: reconnects with a capped, jittered
backoff after Redis restarts or the network drops, and tells its owner
each time (``onReady``, ``onLost``) so that the node can register again.

Commands given while the link is down fail at once with
RedisConnectionLost: the caller decides whether to wait (``whenReady``)
or to route a stanza some other way. Nothing is queued here, so nothing
can be sent twice behind the caller's back.
"""

import random

from twisted.internet import defer
from twisted.python import log

from xmppd.cluster.resp import RedisConnectionLost, connect

BACKOFF_FIRST = 0.05
BACKOFF_MAX = 2.0


class RedisLink:
    def __init__(self, reactor, address, name, onReady=None, onLost=None):
        self.reactor = reactor
        self.address = address
        self.name = name
        self.onReady = onReady
        self.onLost = onLost
        self.conn = None
        self.running = False
        self.connects = 0
        self._delay = BACKOFF_FIRST
        self._waiters = []
        self._retry = None
        self._failures = 0

    @property
    def ready(self):
        return self.conn is not None and self.conn.connected

    def start(self):
        self.running = True
        self._connect()

    def stop(self):
        self.running = False
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.transport.abortConnection()
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.errback(RedisConnectionLost("stopped"))

    def execute(self, *args):
        if not self.ready:
            return defer.fail(RedisConnectionLost("redis is not connected"))
        return self.conn.execute(*args)

    def barrier(self):
        if not self.ready:
            return defer.succeed(None)
        return self.conn.barrier()

    def whenReady(self):
        """Fires (with the connection) once the link is up and its owner ready."""
        if self.ready:
            return defer.succeed(self.conn)
        d = defer.Deferred()
        self._waiters.append(d)
        return d

    def _connect(self):
        self._retry = None
        if not self.running:
            return
        d = connect(self.reactor, self.address)
        d.addCallback(self._connected)
        d.addErrback(self._failed)

    @defer.inlineCallbacks
    def _connected(self, conn):
        if not self.running:
            conn.transport.abortConnection()
            return
        try:
            if self.onReady is not None:
                yield self.onReady(conn)
        except Exception as e:
            conn.transport.abortConnection()
            raise e
        self.conn = conn
        self.connects += 1
        self._delay = BACKOFF_FIRST
        if self._failures:
            log.msg("cluster: redis link %s is back (%s)" % (self.name, self.address))
        self._failures = 0
        conn.lost.addCallback(self._lost, conn)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(conn)

    def _lost(self, _, conn):
        if self.conn is conn:
            self.conn = None
        if not self.running:
            return
        log.msg("cluster: redis link %s lost; reconnecting" % (self.name,))
        if self.onLost is not None:
            try:
                self.onLost()
            except Exception:
                log.err(None, "cluster: handling a lost redis link failed")
        self._schedule()

    def _failed(self, failure):
        if not self.running:
            return
        self._failures += 1
        if self._failures in (1, 10) or self._failures % 100 == 0:
            log.msg("cluster: cannot reach redis at %s for link %s: %s"
                    % (self.address, self.name, failure.getErrorMessage()))
        self._schedule()

    def _schedule(self):
        if not self.running or self._retry is not None:
            return
        delay = self._delay * (0.5 + random.random())
        self._delay = min(self._delay * 2, BACKOFF_MAX)
        self._retry = self.reactor.callLater(delay, self._connect)
