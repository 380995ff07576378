"""
The scenarios of issue 10 that need no stream management, as coroutines
``scenario(target)`` returning the tally's figures (sent, delivered,
duplicated, lost, and what else the scenario observed). The tests assert
on them for xmppd; ``python3 -m bench.reliability`` records them for xmppd,
Prosody and ejabberd.

Each reads as a transcript: alice sends, bob's clients log in and out, bob's
``watch`` resource (priority -1: it never takes bob's messages, but it sees
the presence of bob's other resources) tells when the server let a session
go.
"""

import asyncio
import os
import signal
import sys

from tests.reliability.common import (
    Tally,
    connect,
    cut,
    deliveryPinged,
    drainUntilClosed,
    hangUp,
    logout,
    online,
    receive,
    relogin,
    sendMessages,
    waitPresence,
    waitStored,
    waitStoredSteady,
)

ROUNDS = 10
RELEASE_TIMEOUT = 3     # how long a scenario waits for the server to let a session go


async def accounts(target, *names):
    return [await target.account(name) for name in names]


async def logoutAfterOfflineDelivery(target, rounds=ROUNDS, deterministic=True):
    """
    Scenario 1 and (a): bob has 3 stored messages, logs in, receives them
    and logs out; right after, alice sends him one more; repeated. With
    ``deterministic``, bob waits for the server's ``</stream:stream>``
    before hanging up and alice sends in that window; otherwise bob logs
    out as clients do (close, then hang up at once) and alice sends as soon
    as he did.
    """
    alice, bob = await accounts(target, "alice", "bob")
    tally = Tally("logout")
    sender = await connect(target, alice, "desk")
    for _ in range(rounds):
        keys = await sendMessages(sender, target, bob[0], tally, 3)
        await waitStored(target, bob[0], 3)
        phone = await online(target, bob, "phone")
        await receive(phone, tally, lambda: all(tally.arrivals[k] for k in keys), 2)
        await deliveryPinged(phone)
        # "Half a second later": once a round trip proved the delivery is done.
        for element in await phone.roundTrip():
            tally.record(element)
        if deterministic:
            for element in await phone.closeStream(5):
                tally.record(element)
            await sendMessages(sender, target, bob[0], tally, 1)
            await hangUp(phone)
        else:
            await phone.close()
            await sendMessages(sender, target, bob[0], tally, 1)
    await relogin(target, bob, tally)
    await logout(sender, tally)
    return tally.result()


async def closeThenStopReading(target, count=10):
    """
    (b) bob's phone sends ``</stream:stream>`` and stops reading, without
    hanging up; alice then sends bob ``count`` messages; later the phone's
    connection goes and bob logs in again.
    """
    alice, bob = await accounts(target, "alice", "bob")
    tally = Tally("closing")
    watch = await online(target, bob, "watch", priority=-1)
    phone = await online(target, bob, "phone")
    await waitPresence(watch, phone.jid, tally, unavailable=False)
    phone.sendRaw("</stream:stream>")
    phone.pauseReading()
    released = await waitPresence(watch, phone.jid, tally, timeout=RELEASE_TIMEOUT)
    sender = await connect(target, alice, "desk")
    await sendMessages(sender, target, bob[0], tally, count)
    cut(phone, tally, reset=False)
    if not released:
        await waitPresence(watch, phone.jid, tally, timeout=RELEASE_TIMEOUT)
    await relogin(target, bob, tally)
    await logout(sender, tally)
    await logout(watch, tally)
    return tally.result(releasedOnClose=released)


async def presenceAndCloseInOneWrite(target, rounds=ROUNDS, stored=5):
    """
    (c) bob has ``stored`` messages; his client sends ``<presence/>`` and
    ``</stream:stream>`` in one write, reads what comes until the server
    hangs up, then logs in again and collects the rest; repeated. What the
    closing stream received was never acknowledged: at most that (one
    batch) may come twice. Returns the most duplicated in one round too.
    """
    alice, bob = await accounts(target, "alice", "bob")
    tally = Tally("oneWrite")
    sender = await connect(target, alice, "desk")
    worstRound = 0
    for _ in range(rounds):
        keys = await sendMessages(sender, target, bob[0], tally, stored)
        await waitStored(target, bob[0], stored)
        before = tally.duplicated
        quick = await connect(target, bob, "quick")
        quick.sendRaw("<presence/></stream:stream>")
        await drainUntilClosed(quick, tally, 2)
        await hangUp(quick)
        phone = await online(target, bob, "phone")
        await receive(phone, tally, lambda: all(tally.arrivals[k] for k in keys), 2)
        await deliveryPinged(phone)
        for element in await phone.roundTrip():
            tally.record(element)
        await logout(phone, tally)
        worstRound = max(worstRound, tally.duplicated - before)
    await relogin(target, bob, tally)
    await logout(sender, tally)
    return tally.result(worstRoundDuplicated=worstRound)


async def frozenPastIdleTimeout(target, count=10, timeout=None):
    """
    (d) bob's phone freezes (stops reading, answers nothing: a phone in a
    tunnel, a process stopped); alice sends ``count`` messages while the
    server still holds the session and ``count`` more after the server
    should have given up on it (``timeout``: idle_timeout + ping_timeout +
    margin). Then the phone wakes up, reads what its kernel kept, and bob
    logs in again.
    """
    alice, bob = await accounts(target, "alice", "bob")
    tally = Tally("frozen")
    watch = await online(target, bob, "watch", priority=-1)
    phone = await online(target, bob, "phone")
    await waitPresence(watch, phone.jid, tally, unavailable=False)
    phone.pauseReading()
    sender = await connect(target, alice, "desk")
    await sendMessages(sender, target, bob[0], tally, count)
    released = await waitPresence(watch, phone.jid, tally, timeout=timeout or RELEASE_TIMEOUT)
    after = await sendMessages(sender, target, bob[0], tally, count)
    phone.resumeReading()
    await drainUntilClosed(phone, tally, 2)
    cut(phone, tally, reset=False)
    await relogin(target, bob, tally)
    await logout(sender, tally)
    await logout(watch, tally)
    # Those sent after the server gave up never reached the frozen stream:
    # they must come exactly once. The earlier ones reached it unacknowledged
    # and may come again at the next login.
    return tally.result(releasedAfterTimeout=released,
                        duplicatedAfterRelease=sum(tally.arrivals[k] - 1 for k in after
                                                   if tally.arrivals[k] > 1))


async def processStoppedPastIdleTimeout(target, count=10, timeout=None):
    """
    (d, as the issue puts it) bob's client is a process of its own, frozen
    with SIGSTOP once online: its kernel still takes what the server writes,
    nothing reads it. alice sends ``count`` while the server holds the
    session and ``count`` after it let it go; the frozen process is then
    killed, never having read any, and bob logs in again: every message
    must come exactly once.
    """
    alice, bob = await accounts(target, "alice", "bob")
    tally = Tally("stopped")
    watch = await online(target, bob, "watch", priority=-1)
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    phone = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.reliability.frozen_client", str(target.port),
        target.domain, bob[0], bob[1], "phone", cwd=repo,
        env=dict(os.environ, PYTHONPATH=repo), stdout=asyncio.subprocess.PIPE)
    try:
        line = (await asyncio.wait_for(phone.stdout.readline(), 15)).decode()
        assert line.startswith("online "), line
        phoneJID = line.split()[1]
        await waitPresence(watch, phoneJID, tally, unavailable=False)
        os.kill(phone.pid, signal.SIGSTOP)
        sender = await connect(target, alice, "desk")
        await sendMessages(sender, target, bob[0], tally, count)
        released = await waitPresence(watch, phoneJID, tally,
                                      timeout=timeout or RELEASE_TIMEOUT)
        await sendMessages(sender, target, bob[0], tally, count)
    finally:
        phone.kill()
        await phone.wait()
    await relogin(target, bob, tally)
    await logout(sender, tally)
    await logout(watch, tally)
    return tally.result(releasedAfterTimeout=released)


async def liveMessageRightAfterLogin(target, rounds=ROUNDS):
    """
    (e) bob has 3 stored messages; he sends his initial presence and
    alice's live message is written at the same moment; bob must get all
    four; repeated.
    """
    alice, bob = await accounts(target, "alice", "bob")
    tally = Tally("live")
    sender = await connect(target, alice, "desk")
    for _ in range(rounds):
        keys = await sendMessages(sender, target, bob[0], tally, 3)
        await waitStored(target, bob[0], 3)
        phone = await connect(target, bob, "phone")
        phone.sendRaw("<presence/>")
        keys += await sendMessages(sender, target, bob[0], tally, 1)
        await receive(phone, tally, lambda: all(tally.arrivals[k] for k in keys), 2)
        await deliveryPinged(phone)
        for element in await phone.roundTrip():
            tally.record(element)
        await logout(phone, tally)
    await relogin(target, bob, tally)
    await logout(sender, tally)
    return tally.result()


async def connectionDiesMidDrain(target, stored=1500, after=200, reset=True, sm=None):
    """
    Scenario 2 and (f): bob has ``stored`` messages; his connection dies
    after he received ``after`` of them -- a TCP RST (SO_LINGER 0) with
    ``reset``, else a hang-up without stream close -- and he logs in
    again. With ``sm`` ("plain" or "resume") the first connection enabled
    XEP-0198 (without resuming afterwards); figures include how many of the
    duplicates bob had acknowledged (must be 0).
    """
    alice, bob = await accounts(target, "alice", "bob")
    tally = Tally("drain")
    sender = await connect(target, alice, "desk")
    await sendMessages(sender, target, bob[0], tally, stored)
    storedBefore = await waitStored(target, bob[0], stored, timeout=30)
    phone = await online(target, bob, "phone", sm=sm)
    # The phone loses the network after ``after`` messages: it reads
    # nothing more, and the server's writes fill the TCP buffers until the
    # connection dies.
    if sm is not None:
        # Half way, an acknowledgement the server is known to have read
        # (it answered the <r/> after it): none of those may come again.
        await receive(phone, tally, lambda: sum(tally.arrivals.values()) >= after // 2)
        await phone.syncAck()
        tally.acknowledge(phone.sm.ackedInbound())
    phone.pauseAfterMessages(after)
    await receive(phone, tally, lambda: sum(tally.arrivals.values()) >= after)
    storedAtCut = await waitStoredSteady(target, bob[0])
    cut(phone, tally, reset)
    receivedFirst = sum(tally.arrivals.values())
    await relogin(target, bob, tally)
    await logout(sender, tally)
    return tally.result(storedBefore=storedBefore, receivedFirst=receivedFirst,
                        storedAtCut=storedAtCut,
                        duplicatedAcked=tally.duplicatedAcked)
