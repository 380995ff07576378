"""
The offline decision, rule by rule (SPEC §2): alice writes to bob while bob
is offline, then bob comes online and reads what was kept. Rules 1, 2
(storage off), 4 (groupchat) and 5 (headline), and the stored copy's
delays, are transcripts (``transcripts/*.scs``).
"""

import pytest

from tests.aio import asyncioTest
from tests.conftest import WITH_MEMORY
from tests.offline.transcript import (
    assertDroppedSilently, assertOfflineCopy, body, expectMessages, expectSilence, online, send, settle,
    storedCount)
from tests.rawclient import NS_CLIENT, q

BOB = "bob@localhost"
RECEIPTS = "urn:xmpp:receipts"
CHATSTATES = "http://jabber.org/protocol/chatstates"
HINTS = "urn:xmpp:hints"


async def bobReads(xmpp, expected):
    """Bob comes online and gets exactly ``expected`` (id, body) in order, then nothing."""
    bob = await online(xmpp, "bob")
    received = await expectMessages(bob, len(expected))
    assert [(m.get("id"), body(m)) for m in received] == expected
    await expectSilence(bob)
    assert await storedCount(xmpp, "bob") == 0
    return received


@pytest.mark.parametrize("backend", WITH_MEMORY)
@asyncioTest
async def test_rule2_offline_stub_drops_silently_while_storage_is_off(serve, backend):
    xmpp = await serve(backend, offline={"enabled": False},
                       modules={"offline_stub": {"enabled": True}})
    alice = await online(xmpp, "alice")
    send(alice, BOB, "m1", "hello")
    await assertDroppedSilently(xmpp, alice, "bob")
    await bobReads(xmpp, [])


@pytest.mark.parametrize("backend", WITH_MEMORY)
@asyncioTest
async def test_rule3_store_paths_first_match_decides(serve, backend):
    xmpp = await serve(backend, offline={"store_paths": [
        "-/message/plain", "/message/received[%s]" % RECEIPTS,
        "/message/store-offline", "/message[type=headline]",
        "/message/*[%s]" % CHATSTATES]})
    alice = await online(xmpp, "alice")
    # A receipt has no body: stored by the matcher.
    send(alice, BOB, "r1", payload="<received xmlns='%s' id='x'/>" % RECEIPTS)
    # <plain/> is refused by the first matcher although it has a body.
    send(alice, BOB, "p1", "plain text", payload="<plain xmlns='urn:example'/>")
    # A matcher without a namespace takes the element in any namespace.
    send(alice, BOB, "s1", payload="<store-offline xmlns='urn:any'/>")
    # An attribute matcher stores a headline, which rule 5 would drop.
    send(alice, BOB, "h1", "news", type="headline")
    # A lone chat state, which rule 6 would drop, matches the * matcher.
    send(alice, BOB, "c1", payload="<composing xmlns='%s'/>" % CHATSTATES)
    assert await settle(xmpp, "bob", alice) == [[]]
    await expectSilence(alice)
    received = await bobReads(xmpp, [("r1", None), ("s1", None), ("h1", "news"),
                                      ("c1", None)])
    assert received[0].find(q(RECEIPTS, "received")) is not None
    assert received[3].find(q(CHATSTATES, "composing")) is not None


def test_rule3_malformed_matcher_stops_start_up_naming_it():
    from xmppd.config import ConfigError, parseConfig
    from xmppd.tap import availableModules, moduleSchemas
    schemas = moduleSchemas(availableModules())
    for bad in ("message/body", "/message[urn:x", "/message//body", "/message/body[]",
                "/presence/x"):
        with pytest.raises(ConfigError) as caught:
            parseConfig({"modules": {"offline": {"store_paths": ["/message/ok", bad]}}},
                        schemas)
        text = str(caught.value)
        assert "\n" not in text
        assert text.startswith("modules.offline.store_paths = ")
        assert 'malformed matcher "%s"' % bad in text, text
        assert caught.value.key == "modules.offline.store_paths"


@pytest.mark.parametrize("backend", WITH_MEMORY)
@asyncioTest
async def test_rule4_hints(serve, backend):
    xmpp = await serve(backend)
    alice = await online(xmpp, "alice")
    send(alice, BOB, "n1", "secret", payload="<no-store xmlns='%s'/>" % HINTS)
    send(alice, BOB, "s1", payload="<store xmlns='%s'/>" % HINTS)
    send(alice, BOB, "s2", "flash", type="headline", payload="<store xmlns='%s'/>" % HINTS)
    send(alice, BOB, "s3", "keep", payload="<no-permanent-store xmlns='%s'/>" % HINTS)
    assert await settle(xmpp, "bob", alice) == [[]]
    await expectSilence(alice)
    await bobReads(xmpp, [("s1", None), ("s2", "flash"), ("s3", "keep")])


@pytest.mark.parametrize("backend", WITH_MEMORY)
@asyncioTest
async def test_rule5_groupchat_stored_only_with_store_groupchat_messages(serve, backend):
    xmpp = await serve(backend, offline={"store_groupchat_messages": True})
    alice = await online(xmpp, "alice")
    send(alice, BOB, "g1", "room talk", type="groupchat")
    assert await settle(xmpp, "bob", alice) == [[]]
    await expectSilence(alice)
    [copy] = await bobReads(xmpp, [("g1", "room talk")])
    assert copy.get("type") == "groupchat"


@pytest.mark.parametrize("backend", WITH_MEMORY)
@asyncioTest
async def test_rule6_content(serve, backend):
    xmpp = await serve(backend)
    alice = await online(xmpp, "alice")
    # Dropped silently: nothing a user would want later.
    send(alice, BOB, "d1", payload="<composing xmlns='%s'/>" % CHATSTATES)
    send(alice, BOB, "d2")
    send(alice, BOB, "d3", type=None)
    send(alice, BOB, "d4", "   ")
    send(alice, BOB, "d5", payload="<request xmlns='%s'/><thread>t</thread>"
                                   "<origin-id xmlns='urn:xmpp:sid:0' id='o'/>" % RECEIPTS)
    send(alice, BOB, "d6", payload="<x xmlns='jabber:x:event'><composing/></x>")
    send(alice, BOB, "d7", payload="<composing xmlns='%s'/><x xmlns='jabber:x:expire' "
                                   "seconds='60'/><amp xmlns='http://jabber.org/protocol/amp'>"
                                   "<rule condition='deliver' value='direct' action='notify'/>"
                                   "</amp>" % CHATSTATES)
    # Stored: a body, a receipt, an unknown payload, a XEP-0022 offline event.
    send(alice, BOB, "k1", "hi", type="normal")
    send(alice, BOB, "k2", payload="<received xmlns='%s' id='m0'/>" % RECEIPTS)
    send(alice, BOB, "k3", payload="<encrypted xmlns='eu.siacs.conversations.axolotl'/>")
    send(alice, BOB, "k4", payload="<x xmlns='jabber:x:event'><offline/></x>")
    assert await settle(xmpp, "bob", alice) == [[]]
    await expectSilence(alice)
    received = await bobReads(xmpp, [("k1", "hi"), ("k2", None), ("k3", None), ("k4", None)])
    assert received[0].get("type") == "normal"
    assert received[2].find(q("eu.siacs.conversations.axolotl", "encrypted")) is not None


@pytest.mark.parametrize("backend", WITH_MEMORY)
@asyncioTest
async def test_stored_copy_keeps_namespaces_declared_by_prefix_and_quoting(serve, backend):
    # The stored copy is serialised without domish's general serialiser
    # unless the stanza needs prefixes: both ways must give the same stanza.
    xmpp = await serve(backend)
    alice = await online(xmpp, "alice")
    alice.sendRaw("<message xmlns:p='urn:example:on-message' to='%s' id='n1' type='chat'>"
                  "<body xml:lang='en'>a &lt;b&gt; &amp; 'c' \"d\"</body>"
                  "<p:note kind='x&apos;y'>one</p:note></message>" % BOB)
    alice.sendRaw("<message to='%s' id='n2' type='chat'><body>two</body>"
                  "<q:item xmlns:q='urn:example:on-child' q:attr='v'>2</q:item>"
                  "<plain xmlns='urn:example:plain' at='&lt;&amp;'/></message>" % BOB)
    assert await settle(xmpp, "bob", alice) == [[]]
    first, second = await bobReads(xmpp, [("n1", "a <b> & 'c' \"d\""), ("n2", "two")])
    assertOfflineCopy(first, alice.jid, "n1", "a <b> & 'c' \"d\"")
    assert first.find(q(NS_CLIENT, "body")).get(
        "{http://www.w3.org/XML/1998/namespace}lang") == "en"
    note = first.find(q("urn:example:on-message", "note"))
    assert note is not None and note.text == "one" and note.get("kind") == "x'y"
    assertOfflineCopy(second, alice.jid, "n2", "two")
    item = second.find(q("urn:example:on-child", "item"))
    assert item is not None and item.text == "2"
    assert item.get("{urn:example:on-child}attr") == "v"
    assert second.find(q("urn:example:plain", "plain")).get("at") == "<&"
