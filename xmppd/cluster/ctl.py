"""
``xmppctl cluster status``: the cluster as Redis sees it -- every node,
whether its lease is alive, how long ago it renewed it, its sessions and
what waits in its inbox.

It reads Redis only (the ``[cluster] redis`` of the config), so it answers
from any machine that has the config, whether a node runs there or not.
"""

import json
import time

from twisted.internet import reactor

from xmppd.api import CommandError
from xmppd.cluster import keys
from xmppd.cluster.resp import RedisError, connect, parseAddress


def addClusterCommands(commands):
    cluster = commands.add_parser("cluster", help="the nodes of the cluster ([cluster])")
    sub = cluster.add_subparsers(dest="cluster_command", required=True, metavar="SUBCOMMAND")
    status = sub.add_parser("status", help="nodes, sessions per node, lease ages")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.set_defaults(run=statusCommand, storage=False)


async def readStatus(conn, now=None):
    """One dict per node (alive or not), sorted by name."""
    now = time.time() if now is None else now
    members = {m.decode("utf-8") for m in await conn.execute(b"SMEMBERS", keys.NODES) or ()}
    rows = []
    for node in sorted(members):
        raw = await conn.execute(b"GET", keys.lease(node))
        lease = json.loads(raw) if raw else {}
        ttl = await conn.execute(b"PTTL", keys.lease(node))
        sessions = await conn.execute(b"SCARD", keys.nodeSessions(node))
        try:
            inbox = await conn.execute(b"XLEN", keys.inbox(node))
        except RedisError:
            inbox = 0
        renewed = lease.get("renewed")
        rows.append({
            "node": node,
            "state": "alive" if raw else "dead",
            "pid": lease.get("pid"),
            "sessions": sessions,
            "inbox": inbox,
            "leaseAge": round(now - renewed, 3) if renewed else None,
            "leaseLeft": round(ttl / 1000.0, 3) if ttl and ttl > 0 else None,
            "uptime": round(now - lease["started"]) if lease.get("started") else None,
        })
    return rows


async def statusCommand(config, storage, args):
    options = config.cluster
    if options is None or not options.enabled:
        raise CommandError("this server is not a cluster node (no [cluster] table)")
    address = parseAddress(options.redis)
    try:
        conn = await connect(reactor, address, timeout=5)
    except Exception as e:
        raise CommandError("cannot reach redis at %s: %s" % (address, e))
    try:
        rows = await readStatus(conn)
    finally:
        conn.close()
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        print("no nodes in the cluster")
        return
    table = [("NODE", "STATE", "PID", "SESSIONS", "INBOX", "LEASE AGE", "UPTIME")]
    for row in rows:
        table.append((row["node"], row["state"], str(row["pid"] or "-"), str(row["sessions"]),
                      str(row["inbox"]),
                      "%.1fs" % row["leaseAge"] if row["leaseAge"] is not None else "-",
                      "%ds" % row["uptime"] if row["uptime"] is not None else "-"))
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for r in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(r, widths)).rstrip())
