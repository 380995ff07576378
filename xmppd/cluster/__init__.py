"""
Several xmppd nodes behind one domain, on Redis and a shared MariaDB
(``[cluster]``; docs/cluster.md is the design, docs/operators.md "Running
a cluster" the operator's side).

Each node keeps its own client sessions; MariaDB holds accounts, rosters
and offline messages for all; Redis holds what the nodes must agree on:

- the session registry (xmppd.cluster.registry, .writer): every bound
  resource, its node, availability and priority, seen by every node's
  routing (xmppd.cluster.sessions);
- the bus (xmppd.cluster.bus): a stream per node through which stanzas
  reach resources of other nodes, acknowledged only once delivered and
  confirmed, or routed again;
- the account locks (xmppd.cluster.lanes): the per-account lane of a
  single node made cluster-wide, so that routing, storing and delivering
  of one account's messages stay one decision at a time, in order;
- the leases (xmppd.cluster.node): a node that dies is noticed, its users
  go offline for their contacts, and what was on its way to them is
  routed again (xmppd.cluster.cleanup).

Without ``[cluster]`` nothing here is imported: ``install`` is the only
entry, called by xmppd.tap when the table is there.
"""

import hashlib
import socket


def defaultNodeName(config):
    """The host name and a short id stable across restarts (of the data directory)."""
    digest = hashlib.sha1(config.data_dir.encode("utf-8")).hexdigest()[:6]
    return "%s-%s" % (socket.gethostname().split(".")[0], digest)


def install(server, options):
    """
    Make ``server`` a cluster node: its sessions, lanes and the Cluster
    service (joined by ``Cluster.join`` before the listeners start).
    """
    from xmppd.cluster.node import Cluster
    from xmppd.cluster.sessions import ClusterSessionManager

    cluster = Cluster(server, options, options.node or defaultNodeName(server.config))
    server.cluster = cluster
    # Another node's password change would not reach this node's cache.
    server.accounts.stopCachingCredentials()
    server.sessions = ClusterSessionManager(server, cluster)
    server.pipeline = cluster.lanes
    return cluster
