"""
The node's cluster metrics, on the server's Prometheus registry (served by
``[metrics]`` like every other metric; each node serves its own).
"""

from prometheus_client import Counter, Gauge, Histogram

from xmppd.metrics import registryFor


class ClusterMetrics:
    def __init__(self, server, cluster):
        registry = registryFor(server)
        self.info = Gauge("xmppd_cluster_node", "This node's name in the cluster (always 1).",
                          ["node"], registry=registry)
        self.info.labels(cluster.nodeName).set(1)
        self.sent = Counter("xmppd_cluster_bus_sent",
                            "Stanzas added to other nodes' inboxes.", registry=registry)
        self.unsent = Counter("xmppd_cluster_bus_unsent",
                              "Stanzas that could not be added to an inbox (routed again).",
                              registry=registry)
        self.received = Counter("xmppd_cluster_bus_received",
                                "Entries read from this node's inbox.", registry=registry)
        self.acked = Counter("xmppd_cluster_bus_acked",
                             "Inbox entries acknowledged (delivered and confirmed, or routed again).",
                             registry=registry)
        self.rerouted = Counter("xmppd_cluster_rerouted",
                                "Messages routed again after their resource or node went away.",
                                registry=registry)
        self.registryWrites = Counter("xmppd_cluster_registry_writes",
                                      "Writes of this node's sessions to the registry.",
                                      registry=registry)
        self.lockContended = Counter("xmppd_cluster_lock_contended",
                                     "Attempts to take an account's lock that found it held.",
                                     registry=registry)
        self.lockWait = Histogram("xmppd_cluster_lock_wait_seconds",
                                  "Time from wanting an account's lock to holding it.",
                                  buckets=(.0005, .001, .0025, .005, .01, .025, .05, .1, .25,
                                           .5, 1, 2.5, 5, 10),
                                  registry=registry)
        self.cleanups = Counter("xmppd_cluster_cleanups",
                                "Dead nodes this node cleaned up after.", registry=registry)
        connected = Gauge("xmppd_cluster_redis_connected",
                          "Whether the node's command connection to Redis is up.",
                          registry=registry)
        connected.set_function(lambda: 1 if cluster.link.ready else 0)
        remote = Gauge("xmppd_cluster_remote_sessions",
                       "Other nodes' resources this node knows of.", registry=registry)
        remote.set_function(cluster.directory.count)
        local = Gauge("xmppd_cluster_local_sessions",
                      "Resources bound on this node.", registry=registry)
        local.set_function(lambda: len(cluster.sessions.localSessions()))
        held = Gauge("xmppd_cluster_locks_held", "Account locks this node holds now.",
                     registry=registry)
        held.set_function(lambda: len(cluster.locks.held))
        outbox = Gauge("xmppd_cluster_outbox", "Messages sent and not yet read by their node.",
                       registry=registry)
        outbox.set_function(lambda: sum(len(e) for e in cluster.bus.outbox.values()))
