"""
Playing a transcript against a running xmppd, one step at a time, with one
``tests.rawclient.RawClient`` per declared client: real TCP, STARTTLS and
SASL, the exact stanzas of the file.

What each step does, and what it waits for (an event, never a sleep):

``NAME connects``
    connect to the STARTTLS port, STARTTLS, SASL with the best mechanism
    offered, bind the declared resource (or let the server choose one);
    from then on ``${NAME's full JID}`` is the JID the server bound. No
    roster get, no presence: the transcript says those. The client then
    reads its stream continuously (``RawClient.keepReading``), as a real
    client does: stanzas wait in its queue for its next ``receives``,
    and the server's XEP-0199 pings and offline acknowledgement probes are
    answered at once and never count as received.
``NAME sends:``
    the block's elements, ``${...}`` filled in, without the indentation
    (``matching.serialize``), in one write: several elements in one block
    arrive pipelined, as a real client may send them.
``NAME receives:``
    each element of the block must match the client's next stanza
    (``matching``), which is awaited for up to ``TIMEOUT`` seconds.
``NAME receives in any order:``
    the next stanzas, as many as the block has elements, must match them
    one to one in some order: for what the server may send in either order
    (two resources' presence, say).
``NAME receives nothing``
    a ping to the server and its answer (``RawClient.roundTrip``); then
    the end of the server's work queued for the client's account and for
    every account it has sent a stanza to (``RunningServer.accountWorkDone``:
    a presence broadcast, a roster set, a message stored for an offline
    recipient or bounced, a delivery of stored messages can still be under
    way when a ping has been answered); then another ping and its answer.
    Nothing may arrive meanwhile. So nothing that the steps so far caused
    for this client is still on its way; what a later step causes is that
    step's business.
``NAME disconnects``
    close the stream and wait until the server has let the resource go (its
    ``resource-unbound`` event), so the next step sees the account without
    it. Stanzas the client had not read yet are dropped unread.

A step that fails raises ``TranscriptFailure``: the file and line, the
step, why, and the expected and received stanzas side by side.
"""

import asyncio
import itertools
from pathlib import Path

from tests.aio import wait
from tests.offline.transcript import leave
from tests.rawclient import RawClient, StreamClosed
from tests.transcript.matching import Mismatch, filledIn, match, matches, serialize, show
from tests.transcript.parser import (
    CONNECTS, DISCONNECTS, RECEIVES, RECEIVES_IN_ANY_ORDER, RECEIVES_NOTHING, SENDS,
    loadTranscript)

TIMEOUT = 10


class TranscriptFailure(AssertionError):
    """A step whose stanzas were not the expected ones."""


def transcriptsIn(directory):
    """The ``*.scs`` files of ``directory``, in name order (for parametrize)."""
    return sorted(Path(directory).glob("*.scs"))


async def playTranscriptFile(path, serve, backend):
    __tracebackhide__ = True
    await playTranscript(loadTranscript(path), serve, backend)


async def playTranscript(transcript, serve, backend):
    """
    Start a server of ``backend`` with the transcript's [Server] config and
    exactly its clients' accounts (``serve`` is the conftest fixture), and
    play the transcript against it.
    """
    __tracebackhide__ = True
    xmpp = await serve(backend, users=(), **transcript.server)
    for jid, password in transcript.accounts().items():
        username, domain = jid.split("@", 1)
        await wait(xmpp.addUser(username, password, domain))
    await runTranscript(transcript, xmpp)


async def runTranscript(transcript, xmpp):
    __tracebackhide__ = True
    player = Player(transcript, xmpp)
    try:
        for step in transcript.steps:
            await player.play(step)
    finally:
        player.abortAll()


class Player:
    """The clients of one run, and what the steps made known (``${...}``)."""

    def __init__(self, transcript, xmpp):
        self.transcript = transcript
        self.xmpp = xmpp
        self.clients = {}
        # Per client, the accounts whose server-side work its stanzas caused.
        self.addressed = {}
        self.variables = {"%s's JID" % client.name: client.jid
                          for client in transcript.clients.values()}

    async def play(self, step):
        __tracebackhide__ = True
        action = {CONNECTS: self.connect, SENDS: self.send, RECEIVES: self.receive,
                  RECEIVES_IN_ANY_ORDER: self.receiveInAnyOrder,
                  RECEIVES_NOTHING: self.receiveNothing, DISCONNECTS: self.disconnect}
        await action[step.action](step)

    def fail(self, step, reason, expected=(), received=()):
        __tracebackhide__ = True
        lines = ["%s:%d: %s: %s" % (self.transcript.path, step.line, step.describe(), reason)]
        expected = [filledIn(element, self.variables, forSending=False) for element in expected]
        if expected:
            lines.append("expected:")
            lines.extend(show(element).rstrip("\n") for element in expected)
        if received:
            # One stanza against one: its attributes in the expected order.
            like = expected[0] if len(expected) == len(received) == 1 else None
            lines.append("received:")
            lines.extend(show(element, like=like).rstrip("\n") for element in received)
        raise TranscriptFailure("\n".join(lines)) from None

    # The steps ------------------------------------------------------------------

    async def connect(self, step):
        __tracebackhide__ = True
        declared = self.transcript.clients[step.client]
        client = await RawClient.connect(self.xmpp.port)
        self.clients[step.client] = client
        try:
            jid = await client.login(declared.username, declared.password,
                                     declared.resource, declared.domain)
        except (AssertionError, StreamClosed, asyncio.TimeoutError) as error:
            self.fail(step, "could not log in as %s: %s" % (declared.jid, error or
                                                             type(error).__name__))
        # As a real client: the server's pings and acknowledgement probes are
        # answered while other clients' steps run, so no delivery waits on it.
        client.keepReading()
        self.variables["%s's full JID" % step.client] = jid
        self.addressed[step.client] = {jid.split("/", 1)[0]}

    async def send(self, step):
        __tracebackhide__ = True
        client = self.clients[step.client]
        try:
            elements = [filledIn(element, self.variables) for element in step.elements]
            data = "".join(serialize(element) for element in elements)
        except ValueError as error:
            self.fail(step, str(error))
        for element in elements:
            if element.get("to"):
                self.addressed[step.client].add(element.get("to").split("/", 1)[0])
        client.sendRaw(data)

    async def receive(self, step):
        __tracebackhide__ = True
        total = len(step.elements)
        for number, expected in enumerate(step.elements, 1):
            received = await self._next(step, [expected], number, total)
            try:
                remembered = match(expected, received, self.variables)
            except Mismatch as mismatch:
                self.fail(step, self._which(number, total) + str(mismatch),
                          [expected], [received])
            self.variables.update(remembered)

    async def receiveInAnyOrder(self, step):
        __tracebackhide__ = True
        total = len(step.elements)
        received = []
        for number in range(1, total + 1):
            received.append(await self._next(step, step.elements, number, total, received))
        for order in itertools.permutations(received):
            remembered = self._matchAll(step.elements, order)
            if remembered is not None:
                self.variables.update(remembered)
                return
        self.fail(step, "the %d stanzas received do not match the %d expected in any order"
                  % (total, total), step.elements, received)

    def _matchAll(self, expected, received):
        variables = dict(self.variables)
        for want, got in zip(expected, received):
            remembered = matches(want, got, variables)
            if remembered is None:
                return None
            variables.update(remembered)
        return variables

    async def receiveNothing(self, step):
        __tracebackhide__ = True
        client = self.clients[step.client]
        try:
            arrived = await client.roundTrip(TIMEOUT)
            for account in sorted(self.addressed[step.client]):
                await self._accountWorkDone(step, account)
            # What that work sent, read meanwhile or still on its way.
            arrived += await client.roundTrip(TIMEOUT)
        except asyncio.TimeoutError:
            self.fail(step, "the server did not answer a ping within %s s" % TIMEOUT)
        except StreamClosed as error:
            self.fail(step, "the stream ended (%s) before the server answered a ping"
                      % error)
        if arrived:
            self.fail(step, "%d stanza%s arrived where nothing should" % (
                len(arrived), "" if len(arrived) == 1 else "s"), received=arrived)

    async def _accountWorkDone(self, step, account):
        __tracebackhide__ = True
        try:
            await asyncio.wait_for(wait(self.xmpp.accountWorkDone(account)), TIMEOUT)
        except asyncio.TimeoutError:
            self.fail(step, "the server's work for %s did not finish within %s s"
                      % (account, TIMEOUT))

    async def disconnect(self, step):
        client = self.clients.pop(step.client)
        await leave(self.xmpp, client)

    # Helpers -------------------------------------------------------------------------

    async def _next(self, step, expected, number, total, before=()):
        __tracebackhide__ = True
        client = self.clients[step.client]
        try:
            return await client.expect(TIMEOUT)
        except asyncio.TimeoutError:
            reason = "nothing arrived within %s s" % TIMEOUT
        except StreamClosed as error:
            reason = "the stream ended (%s)" % error
        self.fail(step, self._which(number, total) + reason, expected, before)

    @staticmethod
    def _which(number, total):
        return "" if total == 1 else "stanza %d of %d: " % (number, total)

    def abortAll(self):
        for client in self.clients.values():
            client.abort()
        self.clients.clear()
