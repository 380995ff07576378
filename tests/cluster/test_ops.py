"""
Operating a cluster (issue 17): two nodes on one host behind one port
(``[c2s] reuse_port``, SO_REUSEPORT), each with its own metrics.
"""

import socket
import urllib.request

from tests.aio import asyncioTest
from tests.cluster.test_routing import untilRegistered
from tests.reliability.common import connect

CLIENTS = 16


def freePort():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as answer:
        text = answer.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


@asyncioTest
async def test_two_nodes_share_one_port_and_each_serves_its_own_metrics(cluster):
    port = freePort()
    metricsPorts = [freePort(), freePort()]
    users = ["user%d" % n for n in range(CLIENTS)]
    nodes = await cluster(2, accounts=users, config={"c2s": {"port": port, "reuse_port": True}},
                          each=lambda i: {"metrics": {"enabled": True,
                                                      "listen": "127.0.0.1:%d" % metricsPorts[i]}})
    # The config is per node; only the metrics port differs.
    assert nodes[0].port == nodes[1].port == port
    clients = {}
    for name in users:
        clients[name] = await connect(nodes[0], (name, "secret-" + name), "pc")
        clients[name].sendRaw("<presence/>")
    where = {}
    for name in users:
        state = await untilRegistered(nodes, "%s@localhost/pc" % name)
        where[name] = state["node"]
    # The kernel spread the connections over both nodes.
    assert set(where.values()) == {"node1", "node2"}, where

    # Users on the two nodes of the one port talk to each other.
    one = next(n for n in users if where[n] == "node1")
    two = next(n for n in users if where[n] == "node2")
    for client in clients.values():
        client.queue.clear()
    clients[one].sendRaw("<message to='%s@localhost' type='chat'><body>across</body></message>"
                         % two)
    message = await expectUnlessPresence(clients[two])
    assert message.get("from") == "%s@localhost/pc" % one

    counts = {}
    for node, metricsPort in zip(("node1", "node2"), metricsPorts):
        values = metrics(metricsPort)
        assert values['xmppd_cluster_node{node="%s"}' % node] == 1
        assert values["xmppd_cluster_redis_connected"] == 1
        counts[node] = values["xmppd_cluster_local_sessions"]
        assert values["xmppd_cluster_remote_sessions"] == CLIENTS - counts[node]
    assert counts == {n: list(where.values()).count(n) for n in ("node1", "node2")}
    for client in clients.values():
        client.writer.close()


async def expectUnlessPresence(client, timeout=10):
    while True:
        element = await client.expect(timeout)
        if not element.tag.endswith("}presence"):
            return element
