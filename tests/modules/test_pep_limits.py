"""
PEP's bounds ([modules.pep]) and its answers to bad requests: item size,
nodes per account, items per node, malformed publishes, bad config values.
"""

import pytest

from tests.aio import asyncioTest
from tests.modules.pep_transcript import (
    NICK, NS_PUBSUB, expectError, expectPublished, fetchItems, online, publish, publishOptions,
    requestItems)

ALICE = "alice@localhost"


@asyncioTest
async def test_item_over_max_item_size_is_refused_and_creates_no_node(serve):
    xmpp = await serve("sqlite", modules={"pep": {"max_item_size": "1KiB"}})
    alice = await online(xmpp, "alice")
    big = "<nick xmlns='%s'>%s</nick>" % (NICK, "x" * 1100)
    await expectError(alice, publish(alice, NICK, big), "not-acceptable", "modify",
                      "payload-too-big")
    await expectError(alice, requestItems(alice, ALICE, NICK), "item-not-found")
    await expectPublished(alice, publish(alice, NICK, "<nick xmlns='%s'>ok</nick>" % NICK), NICK)


@asyncioTest
async def test_nodes_past_max_nodes_are_not_allowed(serve, backend):
    xmpp = await serve(backend, modules={"pep": {"max_nodes": 2}})
    alice = await online(xmpp, "alice")
    for node in ("urn:example:one", "urn:example:two"):
        await expectPublished(alice, publish(alice, node, "<x xmlns='urn:example'/>"), node)
    await expectError(alice, publish(alice, "urn:example:three", "<x xmlns='urn:example'/>"),
                      "not-allowed", "cancel")
    # An existing node takes more items.
    await expectPublished(alice, publish(alice, "urn:example:two", "<y xmlns='urn:example'/>"),
                          "urn:example:two")


@asyncioTest
async def test_max_items_max_means_max_items_per_node(serve, backend):
    xmpp = await serve(backend, modules={"pep": {"max_items_per_node": 3}})
    alice = await online(xmpp, "alice")
    for n in range(5):
        await expectPublished(alice, publish(alice, "urn:example:log", "<e xmlns='x'/>", "i%d" % n,
                                             publishOptions(max_items="max")), "urn:example:log")
    assert [i for i, _ in await fetchItems(alice, ALICE, "urn:example:log")] == ["i2", "i3", "i4"]
    await expectError(alice, publish(alice, "urn:example:other", "<e xmlns='x'/>", "a",
                                     publishOptions(max_items="4")),
                      "not-acceptable", "modify", "max-items-exceeded")
    await expectError(alice, publish(alice, "urn:example:other", "<e xmlns='x'/>", "a",
                                     publishOptions(access_model="roster")),
                      "not-acceptable", "modify", "unsupported-access-model")


@asyncioTest
async def test_malformed_publishes_get_bad_request(xmpp):
    alice = await online(xmpp, "alice")
    await expectError(alice, publish(alice, NICK, "<a xmlns='x'/><b xmlns='x'/>"),
                      "bad-request", "modify", "invalid-payload")
    alice.sendRaw("<iq type='set' id='empty'><pubsub xmlns='%s'><publish node='%s'/></pubsub>"
                  "</iq>" % (NS_PUBSUB, NICK))
    await expectError(alice, "empty", "bad-request", "modify", "item-required")
    await expectError(alice, publish(alice, "n" * 121, "<a xmlns='x'/>"), "not-acceptable")
    await expectError(alice, publish(alice, NICK, "<a xmlns='x'/>", "i" * 191),
                      "not-acceptable")
    await expectError(alice, publish(alice, NICK, "<a xmlns='x'/>", "a",
                                     publishOptions(persist_items="perhaps")), "bad-request")


@pytest.mark.parametrize("text, expected", [
    ("max_nodes = 0", "modules.pep.max_nodes = 0: expected an integer of at least 1"),
    ('default_access_model = "roster"',
     'modules.pep.default_access_model = "roster": expected one of "presence", "open",'
     ' "whitelist"'),
    ('max_item_size = "10"', 'modules.pep.max_item_size = "10": expected a size of at least'),
])
def test_bad_pep_config_is_one_line_naming_the_key(text, expected):
    import tomllib

    from xmppd.config import ConfigError, parseConfig
    from xmppd.tap import availableModules, moduleSchemas

    data = tomllib.loads("[modules.pep]\n" + text)
    with pytest.raises(ConfigError) as caught:
        parseConfig(data, moduleSchemas(availableModules()))
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith(expected), str(caught.value)
