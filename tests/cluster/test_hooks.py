"""
The core's hooks for [cluster]: without the table, the server is built
exactly as before (the core's SessionManager, Session and Lanes, nothing of
xmppd.cluster); with it, the cluster's.
"""

from xmppd.config import parseConfig
from xmppd.lanes import Lanes
from xmppd.sessionmanager import SessionManager
from xmppd.sessions import Session
from xmppd.tap import availableModules, buildServer, moduleSchemas


def build(tmp_path, **tables):
    modules = availableModules()
    data = {"server": {"data_dir": str(tmp_path)}}
    data.update(tables)
    return buildServer(parseConfig(data, moduleSchemas(modules)), modules)


def test_without_cluster_the_server_is_built_as_before(tmp_path):
    server = build(tmp_path)
    assert type(server.sessions) is SessionManager
    assert server.sessions.sessionClass is Session
    assert type(server.pipeline) is Lanes
    assert not hasattr(server, "cluster")


def test_with_cluster_sessions_and_lanes_span_the_nodes(tmp_path):
    from xmppd.cluster.lanes import ClusterLanes
    from xmppd.cluster.sessions import ClusterSession, ClusterSessionManager
    server = build(tmp_path, storage={"backend": "mysql"},
                   cluster={"redis": "redis://127.0.0.1:1/0", "node": "n1"})
    assert type(server.sessions) is ClusterSessionManager
    assert server.sessions.sessionClass is ClusterSession
    assert type(server.pipeline) is ClusterLanes
    assert server.cluster.nodeName == "n1"
    # Every host sees the cluster's, through the server.
    for host in server.hosts.values():
        assert host.sessions is server.sessions and host.lanes is server.pipeline


def test_the_default_node_name_is_the_host_name_and_an_id_of_data_dir(tmp_path):
    import socket
    first = build(tmp_path / "a", storage={"backend": "mysql"}, cluster={})
    again = build(tmp_path / "a", storage={"backend": "mysql"}, cluster={})
    other = build(tmp_path / "b", storage={"backend": "mysql"}, cluster={})
    assert first.cluster.nodeName.startswith(socket.gethostname().split(".")[0] + "-")
    assert first.cluster.nodeName == again.cluster.nodeName != other.cluster.nodeName
