"""The PEP store (XEP-0163 nodes, items, whitelist, subscriptions) on both backends."""

import pytest
import pytest_twisted
from twisted.internet import defer

from xmppd.pep.store import PepStore
from xmppd.storage import SettingsStore
from xmppd.storage.interfaces import NodeExists, NoSuchNode, TooManyNodes

ALICE, BOB = "alice@example.org", "bob@example.org"
DEVICELIST = "eu.siacs.conversations.axolotl.devicelist"
PRESENCE = {"access_model": "presence", "max_items": 10}


def keeping(config, keep):
    """A ``decide`` that creates a missing node with ``config`` and keeps ``keep``."""
    return lambda existing: (existing if existing is not None else config, keep)


@pytest_twisted.ensureDeferred
async def test_first_publish_creates_the_node_with_the_decided_config(database):
    pep = PepStore(database)
    assert await pep.getNode(ALICE, DEVICELIST) is None
    seen = []

    def decide(existing):
        seen.append(existing)
        return PRESENCE, 10

    config, created, dropped = await pep.publish(
        ALICE, DEVICELIST, "current", "<list xmlns='x'/>", ALICE, decide, maxNodes=5)
    assert (config, created, dropped) == (PRESENCE, True, [])
    assert seen == [None]
    assert await pep.getNode(ALICE, DEVICELIST) == PRESENCE
    assert await pep.items(ALICE, DEVICELIST) == [("current", "<list xmlns='x'/>")]
    # The second publish sees the stored config and creates nothing.
    _, created, _ = await pep.publish(
        ALICE, DEVICELIST, "current", "<list xmlns='y'/>", ALICE, decide, maxNodes=5)
    assert not created and seen[1] == PRESENCE
    assert await pep.items(ALICE, DEVICELIST) == [("current", "<list xmlns='y'/>")]


@pytest_twisted.ensureDeferred
async def test_a_refusing_decide_stores_nothing(database):
    pep = PepStore(database)

    def refuse(existing):
        raise ValueError("precondition-not-met")

    with pytest.raises(ValueError):
        await pep.publish(ALICE, "n", "1", "<x/>", ALICE, refuse, maxNodes=5)
    assert await pep.getNode(ALICE, "n") is None
    assert await pep.items(ALICE, "n") == []


@pytest_twisted.ensureDeferred
async def test_items_keep_publish_order_and_a_republished_id_becomes_newest(database):
    pep = PepStore(database)
    for itemId in ("a", "b", "c"):
        await pep.publish(ALICE, "n", itemId, "<p>%s</p>" % itemId, ALICE,
                          keeping(PRESENCE, 10), 5)
    await pep.publish(ALICE, "n", "a", "<p>a2</p>", ALICE, keeping(PRESENCE, 10), 5)
    assert await pep.items(ALICE, "n") == [("b", "<p>b</p>"), ("c", "<p>c</p>"),
                                           ("a", "<p>a2</p>")]
    assert await pep.items(ALICE, "n", maxItems=2) == [("c", "<p>c</p>"), ("a", "<p>a2</p>")]
    assert await pep.items(ALICE, "n", itemIds=["b", "zz"]) == [("b", "<p>b</p>")]
    assert await pep.lastItem(ALICE, "n") == ("a", "<p>a2</p>")
    assert await pep.lastItem(ALICE, "empty") is None


@pytest_twisted.ensureDeferred
async def test_publish_drops_the_oldest_items_past_keep(database):
    pep = PepStore(database)
    dropped = []
    for itemId in ("1", "2", "3", "4"):
        _, _, gone = await pep.publish(ALICE, "n", itemId, "<x/>", ALICE,
                                       keeping(PRESENCE, 2), 5)
        dropped += gone
    assert dropped == ["1", "2"]
    assert [i for i, _ in await pep.items(ALICE, "n")] == ["3", "4"]


@pytest_twisted.ensureDeferred
async def test_node_count_is_bounded_for_create_and_auto_create(database):
    pep = PepStore(database)
    await pep.createNode(ALICE, "one", PRESENCE, maxNodes=2)
    await pep.publish(ALICE, "two", "1", "<x/>", ALICE, keeping(PRESENCE, 1), 2)
    with pytest.raises(TooManyNodes):
        await pep.publish(ALICE, "three", "1", "<x/>", ALICE, keeping(PRESENCE, 1), 2)
    with pytest.raises(TooManyNodes):
        await pep.createNode(ALICE, "three", PRESENCE, maxNodes=2)
    with pytest.raises(NodeExists):
        await pep.createNode(ALICE, "one", PRESENCE, maxNodes=5)
    # Publishing to an existing node is not a new node.
    await pep.publish(ALICE, "two", "2", "<x/>", ALICE, keeping(PRESENCE, 5), 2)
    # Another account has its own count.
    await pep.createNode(BOB, "three", PRESENCE, maxNodes=2)
    assert [n for n, _ in await pep.nodes(ALICE)] == ["one", "two"]
    assert await pep.getNode(ALICE, "three") is None


@pytest_twisted.ensureDeferred
async def test_concurrent_auto_creates_never_pass_the_node_limit(database):
    pep = PepStore(database)
    results = await defer.DeferredList(
        [pep.publish(ALICE, "n%d" % i, "1", "<x/>", ALICE, keeping(PRESENCE, 1), 3)
         for i in range(8)], consumeErrors=True)
    refused = [r for ok, r in results if not ok]
    assert len(refused) == 5 and all(r.check(TooManyNodes) for r in refused)
    assert len(await pep.nodes(ALICE)) == 3


@pytest_twisted.ensureDeferred
async def test_concurrent_publishes_to_one_node_keep_every_item_in_order(database):
    pep = PepStore(database)
    await pep.createNode(ALICE, "n", PRESENCE, 5)
    await defer.gatherResults(
        [pep.publish(ALICE, "n", "i%02d" % i, "<x/>", ALICE, keeping(PRESENCE, 100), 5)
         for i in range(20)])
    assert len(await pep.items(ALICE, "n")) == 20


@pytest_twisted.ensureDeferred
async def test_configure_replaces_the_config_and_trims(database):
    pep = PepStore(database)
    for itemId in ("1", "2", "3"):
        await pep.publish(ALICE, "n", itemId, "<x/>", ALICE, keeping(PRESENCE, 10), 5)
    whitelist = {"access_model": "whitelist", "max_items": 1}
    assert await pep.configureNode(ALICE, "n", whitelist, keep=1) == ["2", "1"]
    assert await pep.getNode(ALICE, "n") == whitelist
    assert [i for i, _ in await pep.items(ALICE, "n")] == ["3"]
    with pytest.raises(NoSuchNode):
        await pep.configureNode(ALICE, "missing", whitelist, keep=1)


@pytest_twisted.ensureDeferred
async def test_retract_purge_and_delete(database):
    pep = PepStore(database)
    for itemId in ("1", "2", "3"):
        await pep.publish(ALICE, "n", itemId, "<x/>", ALICE, keeping(PRESENCE, 10), 5)
    assert await pep.retract(ALICE, "n", ["2", "nope"]) == ["2"]
    assert [i for i, _ in await pep.items(ALICE, "n")] == ["1", "3"]
    await pep.purge(ALICE, "n")
    assert await pep.items(ALICE, "n") == []
    assert await pep.getNode(ALICE, "n") == PRESENCE
    await pep.subscribe(ALICE, "n", BOB)
    await pep.setAffiliations(ALICE, "n", {BOB: "member"})
    await pep.deleteNode(ALICE, "n")
    assert await pep.getNode(ALICE, "n") is None
    assert await pep.subscribers(ALICE, "n") == []
    assert await pep.affiliations(ALICE, "n") == {}
    with pytest.raises(NoSuchNode):
        await pep.deleteNode(ALICE, "n")


@pytest_twisted.ensureDeferred
async def test_affiliations_and_subscriptions(database):
    pep = PepStore(database)
    await pep.createNode(ALICE, "n", PRESENCE, 5)
    await pep.setAffiliations(ALICE, "n", {BOB: "member", "carol@example.org": "member"})
    await pep.setAffiliations(ALICE, "n", {"carol@example.org": "none"})
    assert await pep.affiliations(ALICE, "n") == {BOB: "member"}
    await pep.subscribe(ALICE, "n", BOB)
    await pep.subscribe(ALICE, "n", BOB)
    assert await pep.subscribers(ALICE, "n") == [BOB]
    assert await pep.unsubscribe(ALICE, "n", BOB) is True
    assert await pep.unsubscribe(ALICE, "n", BOB) is False
    assert await pep.subscribers(ALICE, "n") == []


@pytest_twisted.ensureDeferred
async def test_payloads_keep_non_ascii_text_and_percent_signs(database):
    pep = PepStore(database)
    payload = "<nick xmlns='http://jabber.org/protocol/nick'>100% \N{SNOWMAN} ?</nick>"
    await pep.publish(ALICE, "http://jabber.org/protocol/nick", "current", payload, ALICE,
                      keeping(PRESENCE, 1), 5)
    assert await pep.lastItem(ALICE, "http://jabber.org/protocol/nick") == ("current", payload)


@pytest_twisted.ensureDeferred
async def test_deleting_the_account_deletes_its_nodes_and_nothing_else(database, accounts):
    pep = PepStore(database)
    for jid in (ALICE, BOB):
        await accounts.create(jid, "pw")
        await pep.publish(jid, "n", "1", "<x/>", jid, keeping(PRESENCE, 5), 5)
        await pep.setAffiliations(jid, "n", {"carol@example.org": "member"})
        await pep.subscribe(jid, "n", "carol@example.org")
    await pep.subscribe(BOB, "n", ALICE)
    await SettingsStore(database).set(ALICE, "x", "y", "z")

    await accounts.delete(ALICE)

    assert await pep.nodes(ALICE) == []
    assert await pep.items(ALICE, "n") == []
    assert await pep.affiliations(ALICE, "n") == {}
    assert await pep.subscribers(ALICE, "n") == []
    # bob's node, and alice's subscription to it as a row that only names her, stay.
    assert await pep.items(BOB, "n") == [("1", "<x/>")]
    assert await pep.subscribers(BOB, "n") == [ALICE, "carol@example.org"]
    # A new alice starts with an empty PEP service.
    await accounts.create(ALICE, "again")
    _, created, _ = await pep.publish(ALICE, "n", "1", "<x/>", ALICE, keeping(PRESENCE, 5), 5)
    assert created
