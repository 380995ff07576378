"""[cluster] and [c2s] reuse_port: validation, one line naming the key."""

import pytest

from xmppd.config import ConfigError, parseConfig

MYSQL = {"storage": {"backend": "mysql"}}


def test_without_a_cluster_table_the_server_runs_alone():
    config = parseConfig(dict(MYSQL))
    assert config.cluster.enabled is False


def test_a_cluster_table_alone_enables_the_cluster():
    config = parseConfig(dict(MYSQL, cluster={"redis": "redis://127.0.0.1:6390/2"}))
    assert config.cluster.enabled is True
    assert config.cluster.redis == "redis://127.0.0.1:6390/2"
    assert config.cluster.lease == 3
    assert config.cluster.node == ""


def test_enabled_false_keeps_the_cluster_off():
    config = parseConfig(dict(MYSQL, cluster={"enabled": False}))
    assert config.cluster.enabled is False


def test_a_cluster_on_sqlite_is_refused_naming_storage_backend():
    with pytest.raises(ConfigError) as caught:
        parseConfig({"cluster": {}})
    assert caught.value.key == "storage.backend"
    assert str(caught.value) == ('storage.backend = "sqlite": [cluster] needs "mysql"'
                                 " (every node shares one MySQL/MariaDB database)")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("table, key", [
    ({"redis": "http://127.0.0.1"}, "cluster.redis"),
    ({"redis": "redis://"}, "cluster.redis"),
    ({"node": "a b"}, "cluster.node"),
    ({"lease": "0.1s"}, "cluster.lease"),
    ({"lease": "2m"}, "cluster.lease"),
    ({"leases": "3s"}, "cluster.leases"),
])
def test_a_bad_cluster_value_names_its_key(table, key):
    with pytest.raises(ConfigError) as caught:
        parseConfig(dict(MYSQL, cluster=table))
    assert caught.value.key == key


@pytest.mark.parametrize("address", [
    "redis://127.0.0.1:6379/0", "redis://:secret@redis.example.org/3",
    "unix:///run/redis/redis.sock?db=1", "/run/redis/redis.sock",
])
def test_redis_addresses_tcp_or_unix_socket(address):
    assert parseConfig(dict(MYSQL, cluster={"redis": address})).cluster.redis == address


def test_reuse_port_is_off_by_default():
    assert parseConfig({}).c2s.reuse_port is False
    assert parseConfig({"c2s": {"reuse_port": True}}).c2s.reuse_port is True
