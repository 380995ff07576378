"""
After a node died: its resources leave the registry, its users' contacts
see them go offline, and what its inbox still held is routed again.

The first survivor to see the dead node's lease gone takes the cleanup
lock (``xmppd:cleanup:<node>``, only while the lease is still missing) and,
account by account, in that account's lane -- under its lock, so that no
routing decision for the account falls in between -- removes the dead
node's entries from the account's registry hash and routes the messages
its inbox still held for the account again: to the account's other
resources, or to offline storage. They were routed to the dead node
before anything that will be decided from now on, and they are placed
before it. Entries the dead node had acknowledged are not there any more
(acknowledging deletes them), so nothing its clients confirmed comes
twice; what they had read and not yet confirmed may.

Then it sends unavailable presence from each of the dead node's available
resources to the account's other resources and to the contacts the
roster says are subscribed, deletes the node's inbox and session set,
and marks the node fenced: should the node only have been frozen, it
ends its sessions when it wakes instead of serving them as if nothing
happened (xmppd.cluster.node).

A node that starts under the name of one that died (a restart) does the
same for its predecessor before it takes clients, as ``predecessor``.
"""

import collections
import json

from twisted.internet import defer, task
from twisted.python import log
from twisted.words.xish import domish

from xmppd.cluster import keys, scripts
from xmppd.cluster.bus import KIND_MESSAGE, fieldOf
from xmppd.cluster.registry import isTargetState, parseStanza
from xmppd.events import PRESENCE_CONTACTS

FENCE_TTL_MS = 24 * 3600 * 1000
PAGE = 1000


async def readInbox(link, node, after=None):
    """Every entry still in ``node``'s inbox (after the id ``after``), in order."""
    entries = []
    start = b"(" + after if after is not None else b"-"
    while True:
        page = await link.execute(b"XRANGE", keys.inbox(node), start, b"+", b"COUNT", PAGE)
        if not page:
            return entries
        entries.extend((entryId, fields) for entryId, fields in page)
        if len(page) < PAGE:
            return entries
        start = b"(" + page[-1][0]


async def cleanUpAfter(cluster, dead, predecessor=False, leaving=False):
    """
    Clean up after ``dead``; False if another survivor does (or it is
    alive). ``predecessor``: ``dead`` is this node's own name, of a
    previous run (or, ``leaving``, of this run, which is stopping).
    """
    link = cluster.link
    ttl = int(cluster.lease * 5000)
    if not predecessor:
        took = await link.execute(b"EVAL", scripts.TAKE_CLEANUP, 2, keys.cleanup(dead),
                                  keys.lease(dead), cluster.nodeName, ttl)
        if not took:
            return False
        log.msg("cluster: node %s is gone (no lease); cleaning up after it" % (dead,))
    prefix = dead + "|"
    cluster.locks.deadPrefixes.add(prefix)
    renewal = _keepCleanupLock(cluster, dead, ttl) if not predecessor else None
    try:
        fulls = await link.execute(b"SMEMBERS", keys.nodeSessions(dead)) or []
        plan = collections.OrderedDict()
        for full in sorted(f.decode("utf-8") for f in fulls):
            plan.setdefault(full.split("/", 1)[0], ([], []))[0].append(full)
        entries = await readInbox(link, dead)
        for entryId, fields in entries:
            plan.setdefault(_account(fields), ([], []))[1].append((entryId, fields))
        # Each account's job reads again what came after this read: other
        # nodes' routing added it under the account's lock, before the job.
        seen = entries[-1][0] if entries else None
        removedSessions = await _cleanAccounts(cluster, dead, plan, seen)
        # What came in while we worked (presence and IQs sent from stale
        # caches; messages cannot: their routing saw the entries gone).
        late = collections.OrderedDict()
        for entryId, fields in await readInbox(link, dead):
            late.setdefault(_account(fields), ([], []))[1].append((entryId, fields))
        await _cleanAccounts(cluster, dead, late, None)
        await link.execute(b"DEL", keys.inbox(dead), keys.nodeSessions(dead))
        if not predecessor:
            await link.execute(b"SET", keys.fenced(dead), cluster.nodeName, b"PX", FENCE_TTL_MS)
            await link.execute(b"SREM", keys.NODES, dead)
        cluster.directory.forgetNode(dead)
        cluster.metrics.cleanups.inc()
        handled = sum(len(p[1]) for p in plan.values()) + sum(len(p[1]) for p in late.values())
        if leaving:
            log.msg("cluster: routed again the %d entries left in the inbox of %s"
                    % (handled, dead))
        else:
            log.msg("cluster: cleaned up after %s%s: %d resources, %d inbox entries"
                    % ("the previous run of " if predecessor else "", dead,
                       len(removedSessions), handled))
        return True
    finally:
        if renewal is not None:
            renewal.stop()
            link.execute(b"EVAL", scripts.RELEASE, 2, keys.cleanup(dead), keys.wanted(dead),
                         cluster.nodeName, keys.UNLOCK_CHANNEL, dead).addErrback(lambda _: None)
        cluster.clock.callLater(cluster.lease * 2, cluster.locks.deadPrefixes.discard, prefix)


def _keepCleanupLock(cluster, dead, ttl):
    loop = task.LoopingCall(lambda: cluster.link.execute(
        b"EVAL", scripts.RENEW_CLEANUP, 1, keys.cleanup(dead), cluster.nodeName, ttl
    ).addErrback(lambda _: None))
    loop.clock = cluster.clock
    loop.start(ttl / 3000.0, now=False)
    return loop


def _account(fields):
    return fieldOf(fields, b"t", b"").decode("utf-8").split("/", 1)[0]


async def _cleanAccounts(cluster, dead, plan, seen):
    jobs = [cluster.lanes.run(bare, _cleanAccount, cluster, dead, bare, fulls, entries, seen)
            for bare, (fulls, entries) in plan.items()]
    results = await defer.gatherResults(jobs, consumeErrors=True)
    return [removed for result in results for removed in result]


def _cleanAccount(cluster, dead, bare, fulls, entries, seen):
    return defer.ensureDeferred(_cleanAccountNow(cluster, dead, bare, fulls, entries, seen))


async def _cleanAccountNow(cluster, dead, bare, fulls, entries, seen):
    """In the account's lane: the dead node's resources out, its inbox entries routed again."""
    link = cluster.link
    removed = []
    if fulls:
        reply = await link.execute(b"EVAL", scripts.REMOVE_NODE_SESSIONS, 1, keys.sessions(bare),
                                   dead, keys.REGISTRY_CHANNEL, bare, *fulls)
        for i in range(0, len(reply or ()) - 1, 2):
            removed.append((bare, reply[i].decode("utf-8"), json.loads(reply[i + 1])))
    for _, full, state in removed:
        if state.get("available"):
            # Before the messages are routed again (each may wait on the
            # database): contacts learn at once that the resource is gone.
            told = defer.ensureDeferred(tellUnavailable(cluster, bare, full))
            told.addErrback(log.err, "cluster: telling that %s is gone failed" % (full,))
    if seen is not None:
        entries = entries + [(entryId, fields) for entryId, fields
                             in await readInbox(link, dead, seen) if _account(fields) == bare]
    known = cluster.directory.accounts.get(bare, {})
    for full in [f for f, s in known.items() if s.node == dead]:
        del known[full]
    if not known:
        cluster.directory.forget(bare)
    host = cluster.hostOf(bare)
    again = []
    for entryId, fields in entries:
        kind = fieldOf(fields, b"k", KIND_MESSAGE)
        if kind != KIND_MESSAGE:
            if kind == b"i":
                stanza = parseStanza(fieldOf(fields, b"x", b""))
                if stanza.getAttribute("type") in ("get", "set"):
                    host.bounce(stanza, "service-unavailable", "cancel")
            continue
        stanza = parseStanza(fieldOf(fields, b"x", b""))
        together = fieldOf(fields, b"c", b"").decode("utf-8").split()
        if any(_stillTarget(cluster, other, dead) for other in together):
            continue
        again.append(stanza)
    if again:
        await cluster.bus.reroute(bare, again)
    ids = [entryId for entryId, _ in entries]
    for start in range(0, len(ids), 500):
        await link.execute(b"XDEL", keys.inbox(dead), *ids[start:start + 500])
    return removed


def _stillTarget(cluster, full, dead):
    session = cluster.sessions.get(full)
    if session is None or session.closed or getattr(session, "node", None) == dead:
        return False
    return isTargetState(session.available, session.priority)


async def tellUnavailable(cluster, bare, full):
    """RFC 6121 §4.5.2 on the dead node's behalf: ``full`` is gone."""
    host = cluster.hostOf(bare)

    def unavailable(to):
        presence = domish.Element((None, "presence"))
        presence["from"] = full
        presence["type"] = "unavailable"
        presence["to"] = to
        return presence

    for other in cluster.sessions.resources(bare):
        if other.available and other.jid.full() != full:
            other.send(unavailable(other.jid.full()))
    try:
        contacts = await defer.maybeDeferred(host.events.fire, PRESENCE_CONTACTS, bare, False)
    except Exception:
        log.err(None, "cluster: could not read the contacts of %s" % (bare,))
        return
    for contact in getattr(contacts, "subscribers", None) or ():
        presence = unavailable(contact)
        # Outbound processing is done: the recipient's host delivers it.
        presence.routedByServer = True
        host.send(presence)
