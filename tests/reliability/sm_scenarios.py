"""
The scenarios of issue 10 that need XEP-0198 stream management, in the
same form as tests/reliability/scenarios.py: ``scenario(target)`` returns
the figures. A server that offers no ``<sm xmlns='urn:xmpp:sm:3'/>`` fails
them at the first ``enable`` ("offers no XEP-0198").

"Acknowledged" is exact: the recipient's ``<a h/>`` (or ``<resume h/>``)
covers the first h stanzas it received, and ``tally.acked`` holds the
messages among them; a sender's stanzas are acknowledged by the server's
``<a h/>`` the same way. Nothing acknowledged may arrive twice, and
nothing the server acknowledged to a sender may be lost.
"""

import asyncio
import collections

from tests.rawclient import RawClient, StreamClosed
from tests.reliability.common import (
    Tally,
    connect,
    cut,
    logout,
    online,
    receive,
    relogin,
    sendMessages,
    waitPresence,
    waitStored,
)
from tests.reliability.scenarios import accounts, connectionDiesMidDrain

SENDERS = ("alice", "carol", "dave", "erin")


async def resetMidDrainWithSM(target, stored=1500, after=200):
    """(f) with XEP-0198: bob's first connection enabled SM (no resumption) and is reset."""
    return await connectionDiesMidDrain(target, stored, after, reset=True, sm="plain")


async def reconnect(target, account, previous, resource):
    """
    A new connection for ``previous`` (a client whose connection died):
    resume its session if the server lets it, else bind, enable SM and
    come online again. Returns (client, resumed).
    """
    client = await RawClient.connect(target.port)
    client.answerPings = True
    await client.authenticated(account[0], account[1], target.domain)
    try:
        reply = await client.resumeSM(previous.sm)
    except StreamClosed:
        # Refused without <failed/>: Prosody closes the connection when the
        # old session is gone (after too many unacked stanzas, say).
        return await online(target, account, resource, sm="resume"), False
    if reply.tag.endswith("}resumed"):
        client.keepReading()
        return client, True
    await client.bind(resource)
    client.keepReading()
    await client.enableSM(resume=True)
    client.sendRaw("<presence/>")
    return client, False


async def resumeAfterReset(target, stored=300, acked=50, after=100, live=50):
    """
    (g) bob has ``stored`` messages; his phone enables SM with resumption,
    acknowledges the first ``acked``, receives up to ``after`` and is
    reset; alice sends ``live`` more while the session waits; the phone
    resumes (telling the server every stanza it got) and must receive
    exactly what it had not: no loss, no duplicate.
    """
    alice, bob = await accounts(target, "alice", "bob")
    tally = Tally("resume")
    sender = await connect(target, alice, "desk")
    await sendMessages(sender, target, bob[0], tally, stored)
    await waitStored(target, bob[0], stored, timeout=30)
    phone = await online(target, bob, "phone", sm="resume")
    assert phone.sm.resume, "the server refused resumption"
    await receive(phone, tally, lambda: sum(tally.arrivals.values()) >= acked)
    await phone.syncAck()
    tally.acknowledge(phone.sm.ackedInbound())
    await receive(phone, tally, lambda: sum(tally.arrivals.values()) >= after)
    cut(phone, tally)
    await sendMessages(sender, target, bob[0], tally, live)
    again, resumed = await reconnect(target, bob, phone, "phone")
    if resumed:
        tally.acknowledge(again.sm.ackedInbound())
    await receive(again, tally, tally.complete)
    await logout(again, tally)
    await logout(sender, tally)
    return tally.result(resumed=resumed, duplicatedAcked=tally.duplicatedAcked)


async def resumptionTimesOut(target, before=5, during=20, after=10, timeout=10):
    """
    (h) bob's phone (SM with resumption) gets ``before`` messages, acks
    them, and is reset; alice sends ``during`` while the session waits to
    be resumed and ``after`` once the server gave up on it (bob's ``watch``
    resource sees it go, within ``timeout``). All of them must be in
    offline storage, and arrive at bob's next login.
    """
    alice, bob = await accounts(target, "alice", "bob")
    tally = Tally("hibernate")
    watch = await online(target, bob, "watch", priority=-1)
    phone = await online(target, bob, "phone", sm="resume")
    await waitPresence(watch, phone.jid, tally, unavailable=False)
    sender = await connect(target, alice, "desk")
    keys = await sendMessages(sender, target, bob[0], tally, before)
    await receive(phone, tally, lambda: all(tally.arrivals[k] for k in keys))
    await phone.syncAck()
    tally.acknowledge(phone.sm.ackedInbound())
    cut(phone, tally)
    await sendMessages(sender, target, bob[0], tally, during)
    released = await waitPresence(watch, phone.jid, tally, timeout=timeout)
    await sendMessages(sender, target, bob[0], tally, after)
    storedBeforeLogin = await waitStored(target, bob[0], during + after, timeout=5)
    await relogin(target, bob, tally)
    await logout(sender, tally)
    await logout(watch, tally)
    return tally.result(released=released, storedBeforeLogin=storedBeforeLogin,
                        duplicatedAcked=tally.duplicatedAcked)


async def resetsUnderLoad(target, each=500, resets=10, perConnection=100):
    """
    (i) 4 senders x ``each`` messages to bob while his phone (SM with
    resumption) is reset ``resets`` times, each time after receiving
    ``perConnection`` more messages (or 3 s), and resumes (or, refused,
    starts a new session).
    """
    bob, = await accounts(target, "bob")
    senders = await accounts(target, *SENDERS)
    tally = Tally("storm")
    clients = [await connect(target, account, "desk") for account in senders]
    phone = await online(target, bob, "phone", sm="resume")
    sending = asyncio.ensure_future(asyncio.gather(
        *(sendMessages(client, target, bob[0], tally, each) for client in clients)))
    resumed = refused = 0
    for _ in range(resets):
        goal = sum(tally.arrivals.values()) + perConnection
        await receive(phone, tally, lambda: sum(tally.arrivals.values()) >= goal, 3)
        # The <a h/> sent just before a reset may never reach the server:
        # only a resumption proves what it took as acknowledged.
        cut(phone, tally)
        phone, ok = await reconnect(target, bob, phone, "phone")
        if ok:
            tally.acknowledge(phone.sm.ackedInbound())
            resumed += 1
        else:
            refused += 1
    await sending
    await receive(phone, tally, tally.complete, 30)
    await logout(phone, tally)
    for client in clients:
        await logout(client, tally)
    return tally.result(resumed=resumed, refused=refused,
                        duplicatedAcked=tally.duplicatedAcked)


async def serverKilledDuringStoreBurst(target, each=500, chunk=25, killAfter=600, ack="sm"):
    """
    (j) 4 senders send ``each`` messages each to offline bob, asking for
    an ack after every ``chunk`` -- XEP-0198 ``<r/>`` with ``ack="sm"``,
    a XEP-0199 ping round trip with ``ack="ping"`` (what a client without
    SM has) -- and the server is killed with SIGKILL once it acknowledged
    ``killAfter`` in all. After the restart on the same database every
    acknowledged message must be stored, and reach bob.
    """
    bob, = await accounts(target, "bob")
    senders = await accounts(target, *SENDERS)
    tally = Tally("kill")
    clients = [await connect(target, account, "desk") for account in senders]
    if ack == "sm":
        for client in clients:
            assert client.offersSM(), "the server offers no XEP-0198 stream management"
            enabled = await client.enableSM(resume=False)
            assert enabled.tag.endswith("}enabled"), enabled.tag
    acked = {client: [] for client in clients}
    enough = asyncio.Event()

    async def burst(client):
        keys = []
        for _ in range(each // chunk):
            for _ in range(chunk):
                key = tally.next()
                keys.append(key)
                client.sendRaw("<message to='%s@%s' type='chat' id='%s'><body>%s</body>"
                               "</message>" % (bob[0], target.domain, key, key))
            if ack == "sm":
                sent = [tally.keyOf(e) for e in client.sm.sent]
                h = await client.requestAck(30)
                acked[client] = [k for k in sent[:h] if k is not None]
            else:
                await client.roundTrip(30)
                acked[client] = list(keys)
            if sum(len(a) for a in acked.values()) >= killAfter:
                enough.set()

    bursts = asyncio.ensure_future(asyncio.gather(*(burst(c) for c in clients),
                                                  return_exceptions=True))
    try:
        await asyncio.wait_for(enough.wait(), 60)
    finally:
        await target.kill()
    await bursts
    for client in clients:
        client.abort()
    ackedKeys = [k for keys in acked.values() for k in keys]
    sentBeforeKill = len(tally.sent)
    await target.restart()
    stored = collections.Counter(await target.storedBodies(bob[0]))
    tally.sent = ackedKeys          # only what the server acknowledged must arrive
    await relogin(target, bob, tally)
    return tally.result(acked=len(ackedKeys), sentBeforeKill=sentBeforeKill,
                        storedAfterRestart=sum(stored.values()),
                        ackedNotStored=sum(1 for k in ackedKeys if not stored[k]),
                        storedTwice=sum(n - 1 for n in stored.values() if n > 1))
