"""
The no-loss guarantees across nodes (issue 17, docs/reliability.md):
every message exactly once and in each sender's order, whichever node
the senders and the recipient are on, while the recipient comes and goes.
"""

from tests.aio import asyncioTest
from tests.cluster.scenarios import stormWithLoginsAcrossNodes


@asyncioTest
async def test_four_senders_on_three_nodes_while_the_recipient_logs_in_and_out_across_them(
        cluster):
    nodes = await cluster(3)
    result = await stormWithLoginsAcrossNodes(nodes, each=500, logins=10)
    assert result["lost"] == 0, (result, nodes.logs())
    assert result["duplicated"] == 0, result
    assert result["outOfOrder"] == {}, result
    assert result["stored"] == 0, result
    assert result["sent"] == 2000
