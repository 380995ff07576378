"""The operator's guide for a cluster says what the server accepts."""

import os
import re
import tomllib

from xmppd.config import parseConfig
from xmppd.tap import availableModules, moduleSchemas

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _section(name):
    with open(os.path.join(REPO, "docs", "operators.md"), encoding="utf-8") as f:
        text = f.read()
    start = text.index("## " + name)
    return text[start:text.index("\n## ", start + 1)]


def test_the_two_node_template_renders_to_configs_the_server_accepts():
    section = _section("Running a cluster")
    template = re.search(r"`/etc/xmppd/node.toml.in`:\n\n```toml\n(.*?)```", section, re.S).group(1)
    schemas = moduleSchemas(availableModules())
    names = set()
    for node, port in (("a", 9105), ("b", 9106)):
        text = template.replace("@NODE@", node).replace("@METRICS@", str(port))
        config = parseConfig(tomllib.loads(text), schemas)
        assert config.cluster.enabled and config.c2s.reuse_port
        names.add(config.cluster.node)
    assert names == {"a", "b"}


def test_the_common_cluster_tables_are_accepted():
    section = _section("Running a cluster")
    common = re.search(r"```toml\n(\[storage\].*?)```", section, re.S).group(1)
    config = parseConfig(tomllib.loads(common), moduleSchemas(availableModules()))
    assert (config.cluster.node, config.cluster.lease) == ("a", 3)


def test_the_template_unit_runs_one_node_per_instance():
    with open(os.path.join(REPO, "etc", "xmppd@.service"), encoding="utf-8") as f:
        unit = f.read()
    assert "--config /etc/xmppd/%i.toml" in unit
    assert "ReadWritePaths=/var/lib/xmppd/%i" in unit
