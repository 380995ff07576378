"""
No-loss scenarios across the nodes of a cluster, on tests/reliability's
clients and tally: who sends from which node, who logs in where, and what
must have arrived -- exactly once and in each sender's order.
"""

import asyncio
import collections
import time

from tests.reliability.common import Tally, connect, online

SENDERS = ("alice", "carol", "dave", "erin")


def password(name):
    return name, "secret-" + name


class OrderedTally(Tally):
    """A Tally that also keeps the order messages arrived in, per sender."""

    def __init__(self, scenario):
        Tally.__init__(self, scenario)
        self.order = collections.defaultdict(list)
        self.fromStorage = 0
        self.round = 0
        self.log = []

    def record(self, element):
        key = Tally.record(self, element)
        if key is not None:
            delayed = element.find("{urn:xmpp:delay}delay") is not None
            if delayed:
                self.fromStorage += 1
            self.log.append((self.round, key, delayed))
            _, sender, number = key.rsplit("-", 2)
            self.order[sender].append(int(number))
        return key

    def inversions(self, limit=10):
        """
        The first arrivals that came after a higher number of their
        sender's: ((login round, key, from storage), the higher one).
        """
        found = []
        highest = {}
        for index, (round, key, delayed) in enumerate(self.log):
            _, sender, number = key.rsplit("-", 2)
            number = int(number)
            top = highest.get(sender, (-1, None))
            if number < top[0]:
                found.append(((round, key, delayed), top[1]))
            if number > top[0]:
                highest[sender] = (number, (round, key, delayed))
        return found[:limit]

    def outOfOrder(self):
        """Per sender, how many arrivals came after one with a higher number."""
        late = {}
        for sender, numbers in self.order.items():
            highest, count = -1, 0
            for number in numbers:
                if number < highest:
                    count += 1
                highest = max(highest, number)
            if count:
                late[sender] = count
        return late


async def sendNumbered(client, sender, recipient, domain, tally, count, chunk=25):
    """``count`` messages numbered in order; the server has read them all on return."""
    for n in range(count):
        key = "%s-%s-%d" % (tally.scenario, sender, n)
        tally.sent.append(key)
        client.sendRaw("<message to='%s@%s' type='chat' id='%s'><body>%s</body></message>"
                       % (recipient, domain, key, key))
        if n % chunk == chunk - 1:
            await client.writer.drain()
    for element in await client.roundTrip(60):
        tally.record(element)


def _drain(client, tally):
    while client.queue:
        tally.record(client.queue.pop(0))


async def leaveCleanly(client, tally):
    """
    Log out so that nothing read is left unacknowledged: unavailable first
    (no message for the bare JID is routed here any more), then read and
    acknowledge (XEP-0198) until a round trip brings no message, then
    close. What the server wrote was then all confirmed: none of it may
    come again.
    """
    client.sendRaw("<presence type='unavailable'/>")
    while True:
        quiet = True
        for element in await client.roundTrip(30):
            if tally.record(element) is not None:
                quiet = False
        await client.syncAck(30)
        _drain(client, tally)
        if quiet and client.sm.inbound == client.sm.acked:
            break
    for element in await client.closeStream(10):
        tally.record(element)
    client.writer.close()


async def receiveFor(client, tally, seconds, enough, atLeast=0.0):
    """Record arrivals for ``atLeast`` seconds, then until ``enough`` came or ``seconds`` passed."""
    started = time.monotonic()
    deadline = started + seconds
    got = 0
    while got < enough or time.monotonic() - started < atLeast:
        left = deadline - time.monotonic()
        if left <= 0:
            return got
        try:
            element = await client.expect(left)
        except asyncio.TimeoutError:
            return got
        if tally.record(element) is not None:
            got += 1
    return got


async def stormWithLoginsAcrossNodes(cluster, each=500, logins=10, onlineFor=2.0,
                                     receiving=100, atLeast=0.3, offlineFor=0.1):
    """
    Four senders on the three nodes send ``each`` messages each to bob
    while bob logs in and out ``logins`` times, on node 1, 2, 3, 1, …,
    staying each time ``atLeast`` seconds and until ``receiving`` messages
    came (or ``onlineFor`` seconds passed); then bob logs in once more and collects what is
    still due.
    """
    nodes = cluster.nodes
    tally = OrderedTally("storm")
    senders = []
    for index, name in enumerate(SENDERS):
        node = nodes[index % len(nodes)]
        senders.append((name, await connect(node, password(name), "desk")))
    sending = asyncio.ensure_future(asyncio.gather(*(
        sendNumbered(client, name, "bob", nodes[0].domain, tally, each)
        for name, client in senders)))
    where = []
    try:
        for round in range(logins):
            node = nodes[round % len(nodes)]
            where.append(node.index + 1)
            tally.round = round + 1
            phone = await online(node, password("bob"), "phone", sm="plain")
            await receiveFor(phone, tally, onlineFor, receiving, atLeast)
            await leaveCleanly(phone, tally)
            await asyncio.sleep(offlineFor)
        await sending
    finally:
        if not sending.done():
            sending.cancel()
    node = nodes[logins % len(nodes)]
    tally.round = logins + 1
    phone = await online(node, password("bob"), "phone", sm="plain")
    deadline = time.monotonic() + 60
    while not tally.complete() and time.monotonic() < deadline:
        await receiveFor(phone, tally, 1.0, len(tally.sent))
        if not tally.complete() and not await cluster.storedCount("bob"):
            await receiveFor(phone, tally, 1.0, len(tally.sent))
            break
    await leaveCleanly(phone, tally)
    for _, client in senders:
        client.writer.close()
    deadline = time.monotonic() + 10
    stored = await cluster.storedCount("bob")
    while stored and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        stored = await cluster.storedCount("bob")
    return tally.result(outOfOrder=tally.outOfOrder(), stored=stored, logins=where,
                        fromStorage=tally.fromStorage, firstInversions=tally.inversions(5))
