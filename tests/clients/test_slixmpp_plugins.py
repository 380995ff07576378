"""
slixmpp's own XEP plugins against xmppd: each plugin is a client's code for
a XEP, so a plugin that works proves the server speaks the XEP as clients
read it, not only as our transcripts do.

Plugins whose server side exists here: 0030 disco, 0199 ping, 0092
version, 0202 time, 0012 last activity, 0049 private storage with 0048
bookmarks, 0054 vcard-temp, 0115 entity caps (the server's, from the
stream features), 0077 registration.
"""

import asyncio

import slixmpp
from slixmpp.plugins.xep_0048 import Bookmarks

from tests.aio import asyncioTest
from tests.slixclient import connectLocally

PLUGINS = ["xep_0030", "xep_0199", "xep_0092", "xep_0202", "xep_0012", "xep_0049", "xep_0048",
           "xep_0054", "xep_0115"]


class PluginClient(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        slixmpp.ClientXMPP.__init__(self, jid, password)
        for plugin in PLUGINS:
            self.register_plugin(plugin)
        self.online = asyncio.Event()
        self.add_event_handler("session_start", self.onSessionStart)

    async def onSessionStart(self, event):
        self.send_presence()
        self.online.set()


async def connected(xmpp, jid, password):
    return await connectLocally(PluginClient(jid, password), xmpp.port)


@asyncioTest
async def test_slixmpp_disco_finds_and_each_plugin_gets_an_answer_from_the_server(xmpp):
    alice = await connected(xmpp, "alice@localhost/slix", "secret-alice")
    try:
        info = await alice["xep_0030"].get_info(jid="localhost")
        features = set(info["disco_info"]["features"])
        assert {"urn:xmpp:ping", "jabber:iq:version", "urn:xmpp:time", "jabber:iq:last",
                "jabber:iq:private", "vcard-temp"} <= features
        assert await alice["xep_0199"].ping(jid="localhost", timeout=10) >= 0
        assert await alice["xep_0199"].ping(jid="bob@localhost", timeout=10) >= 0
        version = await alice["xep_0092"].get_version("localhost")
        assert version["software_version"]["name"] == "xmppd"
        time = await alice["xep_0202"].get_entity_time("localhost")
        assert time.xml.findtext("{urn:xmpp:time}time/{urn:xmpp:time}tzo") == "+00:00"
        # (slixmpp's own utc getter appends a second "Z" and cannot parse
        # any XEP-0202 stamp, so the text is read as sent.)
        assert time.xml.findtext("{urn:xmpp:time}time/{urn:xmpp:time}utc").endswith("Z")
        last = await alice["xep_0012"].get_last_activity("localhost")
        assert last["last_activity"]["seconds"] >= 0
    finally:
        alice.disconnect()


@asyncioTest
async def test_slixmpp_bookmarks_in_private_storage_and_vcards_round_trip(xmpp):
    alice = await connected(xmpp, "alice@localhost/slix", "secret-alice")
    bob = await connected(xmpp, "bob@localhost/slix", "secret-bob")
    try:
        bookmarks = Bookmarks()
        bookmarks.add_conference("room@muc.example.org", "alice", name="Room", autojoin=True)
        await alice["xep_0048"].set_bookmarks(bookmarks, method="xep_0049")
        stored = await alice["xep_0049"].retrieve("bookmarks")
        [conference] = stored["private"]["bookmarks"]["conferences"]
        assert (conference["jid"], conference["nick"], conference["autojoin"]) == (
            "room@muc.example.org", "alice", True)

        vcard = alice["xep_0054"].make_vcard()
        vcard["FN"] = "Alice Liddell"
        vcard["NICKNAME"] = "alice"
        await alice["xep_0054"].publish_vcard(vcard)
        seen = await bob["xep_0054"].get_vcard("alice@localhost", cached=False, local=False)
        assert seen["vcard_temp"]["FN"] == "Alice Liddell"
        assert seen["vcard_temp"]["NICKNAME"] == ["alice"]
    finally:
        alice.disconnect()
        bob.disconnect()


@asyncioTest
async def test_slixmpp_validates_the_server_caps_from_the_stream_features(xmpp):
    alice = await connected(xmpp, "alice@localhost/slix", "secret-alice")
    try:
        assert "caps" in alice.features
        # slixmpp checks the hash against disco#info node#ver in the
        # background and keeps it only if it matches; no event says when.
        for _ in range(200):
            caps = await alice["xep_0115"].get_caps(jid="localhost")
            if caps is not None:
                break
            await asyncio.sleep(0.05)
        assert caps is not None, "slixmpp did not accept the server's caps"
        assert "vcard-temp" in caps["features"]
    finally:
        alice.disconnect()
