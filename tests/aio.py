"""
Bridges between the asyncio client side of a test and the Twisted server.

pytest runs on Twisted's asyncio reactor, so the server and asyncio clients
(the raw client, slixmpp) share one event loop. ``asyncioTest`` turns an
``async def`` written for asyncio into a test pytest-twisted waits for;
inside it, ``await wait(deferred)`` awaits a Twisted Deferred.
"""

import asyncio
import functools

from twisted.internet.defer import Deferred, ensureDeferred


def asyncioTest(fn):
    @functools.wraps(fn)
    def test(*args, **kwargs):
        return Deferred.fromFuture(asyncio.ensure_future(fn(*args, **kwargs)))
    return test


def wait(d):
    """An awaitable for asyncio code from a Deferred or a Twisted coroutine."""
    if not isinstance(d, Deferred):
        d = ensureDeferred(d)
    return d.asFuture(asyncio.get_event_loop())
