"""
What every reliability scenario shares: named clients of a *target* (any
XMPP server on 127.0.0.1: xmppd in its own process, Prosody, ejabberd),
numbered messages, and a tally of what was sent, delivered, duplicated and
lost.

A target offers ``port``, ``domain``, ``name``, ``await account(name)`` ->
(localpart, password) of an account only this scenario run uses,
``await storedCount(localpart)`` (its offline queue, read from the
server's storage, or None when the target cannot tell), and ``batch``,
the number of stored messages the server delivers per batch (the bound on
what "at least once" may repeat without stream management; None if
unknown). Nothing here imports Twisted: the same code drives every server.
"""

import asyncio
import collections
import time
import xml.etree.ElementTree as ET

from tests.rawclient import NS_CLIENT, RawClient, StreamClosed, q

QUIET = 1.0          # no message for this long, with nothing stored: the inbox is settled
SETTLE_TIMEOUT = 30  # the most a scenario waits for its messages to arrive
STORED_TIMEOUT = 1   # the most it waits for the server to have stored a few messages


class Tally:
    """Messages by body key: how many were sent, and how often each arrived."""

    def __init__(self, scenario):
        self.scenario = scenario
        self.sent = []
        self.arrivals = collections.Counter()
        self.acked = set()      # keys the recipient had acknowledged (XEP-0198 or ping)
        self.bounced = set()    # keys a sender got an error for

    def key(self, number):
        return "%s-%d" % (self.scenario, number)

    def next(self):
        key = self.key(len(self.sent))
        self.sent.append(key)
        return key

    def keyOf(self, element):
        """The key of ``element`` if it is one of this scenario's messages, else None."""
        if element.tag != q(NS_CLIENT, "message"):
            return None
        text = element.findtext(q(NS_CLIENT, "body"))
        if text is None or not text.startswith(self.scenario + "-"):
            return None
        return text

    def record(self, element):
        """Count ``element`` if it is one of this scenario's messages; return its key."""
        key = self.keyOf(element)
        if key is not None and element.get("type") == "error":
            self.bounced.add(key)
            return None
        if key is not None:
            self.arrivals[key] += 1
        return key

    def acknowledge(self, elements):
        """The recipient acknowledged these stanzas: none of them may come again."""
        self.acked.update(k for k in map(self.keyOf, elements) if k is not None)

    @property
    def delivered(self):
        return sum(1 for key in self.sent if self.arrivals[key])

    @property
    def duplicated(self):
        return sum(count - 1 for count in self.arrivals.values() if count > 1)

    @property
    def duplicatedAcked(self):
        """Arrivals of a message after the recipient had acknowledged it."""
        return sum(self.arrivals[key] - 1 for key in self.acked if self.arrivals[key] > 1)

    @property
    def lost(self):
        return len(self.sent) - self.delivered

    def missing(self):
        return [key for key in self.sent if not self.arrivals[key]]

    def complete(self):
        return all(self.arrivals[key] for key in self.sent)

    def result(self, **extra):
        figures = dict(sent=len(self.sent), delivered=self.delivered,
                       duplicated=self.duplicated, lost=self.lost,
                       bounced=sum(1 for key in self.missing() if key in self.bounced))
        figures.update(extra)
        return figures


def message(target, recipient, key):
    return ("<message to='%s@%s' type='chat' id='%s'><body>%s</body></message>"
            % (recipient, target.domain, key, key))


async def sendMessages(sender, target, recipient, tally, count, chunk=50):
    """``count`` numbered messages, paced by TCP; the server has read them all on return."""
    keys = []
    for n in range(count):
        key = tally.next()
        keys.append(key)
        sender.sendRaw(message(target, recipient, key))
        if n % chunk == chunk - 1:
            await sender.writer.drain()
    for element in await sender.roundTrip():
        tally.record(element)
    return keys


async def connect(target, account, resource, answerPings=True):
    """An authenticated, bound client of ``account`` (localpart, password)."""
    client = await RawClient.connect(target.port)
    client.answerPings = answerPings
    await client.login(account[0], account[1], resource, domain=target.domain)
    client.keepReading()
    return client


async def online(target, account, resource, priority=None, sm=None):
    """
    A client that enabled stream management when ``sm`` is "resume" or
    "plain", then sent its initial presence (which starts offline delivery).
    """
    client = await connect(target, account, resource)
    if sm is not None:
        assert client.offersSM(), "the server offers no XEP-0198 stream management"
        enabled = await client.enableSM(resume=(sm == "resume"))
        assert enabled.tag.endswith("}enabled"), ET.tostring(enabled)
    client.sendRaw("<presence>%s</presence>" % (
        "" if priority is None else "<priority>%d</priority>" % priority))
    return client


async def receive(client, tally, until, timeout=SETTLE_TIMEOUT):
    """
    Record the messages ``client`` receives until ``until()`` holds; False
    if the stream ended or ``timeout`` passed first.
    """
    deadline = time.monotonic() + timeout
    while not until():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        try:
            element = await client.expect(left)
        except (StreamClosed, asyncio.TimeoutError, ConnectionError):
            return False
        tally.record(element)
    return True


async def deliveryPinged(client, timeout=0.5):
    """
    Give the server up to ``timeout`` to follow the stored messages with
    its acknowledgement probe (an IQ get; xmppd deletes a delivered batch
    when the answer comes; the client answers by itself): a client that
    logs out once it has answered leaves nothing to deliver twice. True if
    a probe came.
    """
    deadline = time.monotonic() + timeout
    while not client.pingsAnswered and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    return bool(client.pingsAnswered)


def cut(client, tally, reset=True):
    """
    The client's connection dies: a TCP RST with ``reset``, else a hang-up
    without stream close. What its parser already read counts as received
    (it is in the client's h), so it is recorded first.
    """
    while client.queue:
        tally.record(client.queue.pop(0))
    if reset:
        client.reset()
    else:
        client.abort()


async def drainUntilClosed(client, tally, timeout=SETTLE_TIMEOUT):
    """Record every message until the server ends the stream or the connection."""
    await receive(client, tally, lambda: False, timeout)


async def settle(client, tally, target, user, timeout=SETTLE_TIMEOUT):
    """
    Record messages until every message of ``tally`` arrived, or until
    nothing is stored for ``user`` any more and nothing arrived for
    ``QUIET`` seconds (then a round trip collects what was in flight): the
    missing ones are lost.
    """
    deadline = time.monotonic() + timeout
    while not tally.complete() and time.monotonic() < deadline:
        try:
            element = await client.expect(QUIET)
        except asyncio.TimeoutError:
            stored = await target.storedCount(user)
            if not stored:
                break
            continue
        except (StreamClosed, ConnectionError):
            return
        tally.record(element)
    if not tally.complete():
        try:
            for element in await client.roundTrip():
                tally.record(element)
        except (StreamClosed, asyncio.TimeoutError, ConnectionError):
            pass


async def waitStored(target, user, count, timeout=STORED_TIMEOUT):
    """
    Poll the target's storage until ``user`` has ``count`` stored messages
    (the server stores asynchronously, and no stanza tells a sender that a
    message reached the disk); the count reached.
    """
    deadline = time.monotonic() + timeout
    while True:
        stored = await target.storedCount(user)
        if stored is None or stored >= count or time.monotonic() > deadline:
            return stored
        await asyncio.sleep(0.05)


async def waitStoredSteady(target, user, steady=0.3, timeout=10):
    """
    Poll until ``user``'s stored count has not changed for ``steady``
    seconds: the server wrote all it could to a client that stopped
    reading (and deleted what it deletes on writing). The count then.
    """
    deadline = time.monotonic() + timeout
    last, since = await target.storedCount(user), time.monotonic()
    while last is not None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        now = await target.storedCount(user)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= steady:
            break
    return last


async def waitPresence(watcher, jid, tally=None, unavailable=True, timeout=SETTLE_TIMEOUT):
    """
    Wait until ``watcher`` (another resource of the same account, at a
    negative priority so that it never takes the account's messages) sees
    ``jid`` go unavailable -- the server let that session go -- or come
    online; False if it did not within ``timeout``.
    """
    def seen(element):
        if element.tag != q(NS_CLIENT, "presence") or element.get("from") != jid:
            return False
        return (element.get("type") == "unavailable") == unavailable

    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        try:
            element = await watcher.expect(left)
        except (asyncio.TimeoutError, StreamClosed, ConnectionError):
            return False
        if tally is not None:
            tally.record(element)
        if seen(element):
            return True


async def logout(client, tally=None):
    """
    A clean logout: ``</stream:stream>``, the server's close, then TLS and
    TCP close; what arrived until then is recorded in ``tally``.
    """
    received = list(client.queue)
    client.queue.clear()
    try:
        received += await client.closeStream(5)
    except (asyncio.TimeoutError, ConnectionError):
        pass
    for element in received if tally is not None else ():
        tally.record(element)
    await hangUp(client)


async def hangUp(client):
    client.writer.close()
    try:
        await asyncio.wait_for(client.writer.wait_closed(), 1)
    except (asyncio.TimeoutError, ConnectionError, OSError):
        client.abort()


async def relogin(target, account, tally, resource="again"):
    """The account logs in once more and collects what is still due."""
    client = await online(target, account, resource)
    await settle(client, tally, target, account[0])
    await logout(client, tally)
