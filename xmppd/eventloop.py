"""
The epoll reactor's dispatch of I/O events, without a log context per event.

Twisted's ``EPollReactor.doPoll`` calls every ready connection through
``log.callWithLogger``: the connection's ``logPrefix()``, a copy of the
log context with it as the "system", a push and pop of the context stack,
and a catch-all around the call -- eight Python calls and two dicts per
read or write. The event itself (``_doReadOrWrite``) already turns what
its handler raises into the connection's loss. In py-spy of the server
through the login benchmark that wrapper was 8% of the event loop, where a
login is two dozen events; in routing it is paid per read.

``install`` gives the running reactor a ``doIteration`` that dispatches
each event directly and keeps the catch-all (an error is logged with the
connection's prefix, as before). What is lost: legacy ``log.msg`` lines
written while an event is handled carry the "system" ``-`` instead of the
connection's prefix; xmppd's own lines name their peer themselves. Only a
plain ``EPollReactor`` is changed, anything else (a test's reactor, the
asyncio one) is left as it is.
"""

import errno
import types

from twisted.python import log


def install(reactor):
    """Dispatch ``reactor``'s events directly (idempotent); whether it did."""
    try:
        from twisted.internet.epollreactor import EPollReactor
    except ImportError:
        return False
    if type(reactor) is not EPollReactor:
        return False
    if getattr(reactor.doIteration, "__func__", None) is _doPoll:
        return True
    reactor.doIteration = reactor.doPoll = types.MethodType(_doPoll, reactor)
    return True


def _doPoll(self, timeout):
    """EPollReactor.doPoll, calling ``_doReadOrWrite`` without ``log.callWithLogger``."""
    if timeout is None:
        timeout = -1
    try:
        events = self._poller.poll(timeout, len(self._selectables))
    except OSError as err:
        if err.errno == errno.EINTR:
            return
        raise
    selectables = self._selectables
    dispatch = self._doReadOrWrite
    for fd, event in events:
        selectable = selectables.get(fd)
        if selectable is None:
            continue
        try:
            dispatch(selectable, fd, event)
        except KeyboardInterrupt:
            raise
        except BaseException:
            log.err(system=_prefixOf(selectable))


def _prefixOf(selectable):
    try:
        return selectable.logPrefix()
    except Exception:
        return "(buggy logPrefix method)"
