"""
A real client library's PEP against the server: two slixmpp clients with
their XEP-0115, XEP-0163 and XEP-0084 plugins become contacts; alice
publishes an avatar, bob's client (which announced
``urn:xmpp:avatar:metadata+notify`` in its own caps) hears of it and fetches
the data.
"""

import asyncio

import slixmpp

from tests.aio import asyncioTest
from tests.slixclient import connectLocally

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


class AvatarClient(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        slixmpp.ClientXMPP.__init__(self, jid, password)
        for plugin in ("xep_0030", "xep_0060", "xep_0115", "xep_0163", "xep_0084"):
            self.register_plugin(plugin)
        self.online = asyncio.Event()
        self.subscribed = asyncio.Event()
        self.avatars = asyncio.Queue()
        self.add_event_handler("session_start", self.onSessionStart)
        self.add_event_handler("presence_subscribed", lambda _: self.subscribed.set())
        self.add_event_handler("avatar_metadata_publish", self.avatars.put_nowait)

    async def onSessionStart(self, event):
        await self.get_roster()
        self.send_presence()
        self.online.set()


@asyncioTest
async def test_slixmpp_avatar_publish_reaches_a_subscribed_contact(xmpp):
    alice = await connectLocally(AvatarClient("alice@localhost/laptop", "secret-alice"),
                                 xmpp.port)
    bob = await connectLocally(AvatarClient("bob@localhost/phone", "secret-bob"), xmpp.port)
    try:
        # slixmpp approves and returns subscriptions by itself: both end up "both".
        alice.send_presence_subscription(pto="bob@localhost")
        await asyncio.wait_for(alice.subscribed.wait(), 10)
        await asyncio.wait_for(bob.subscribed.wait(), 10)

        avatarId = alice["xep_0084"].generate_id(PNG)
        await asyncio.wait_for(alice["xep_0084"].publish_avatar(PNG), 10)
        await asyncio.wait_for(alice["xep_0084"].publish_avatar_metadata(
            [{"id": avatarId, "type": "image/png", "bytes": len(PNG)}]), 10)

        event = await asyncio.wait_for(bob.avatars.get(), 10)
        assert event["from"].bare == "alice@localhost"
        info = event["pubsub_event"]["items"]["item"]["avatar_metadata"]["info"]
        assert (info["id"], info["type"], int(info["bytes"])) == (avatarId, "image/png",
                                                                   len(PNG))

        result = await asyncio.wait_for(
            bob["xep_0084"].retrieve_avatar("alice@localhost", avatarId), 10)
        item = result["pubsub"]["items"]["item"]
        assert item["id"] == avatarId
        assert item["avatar_data"]["value"] == PNG

        # The server's XEP-0115 §5 check agreed with slixmpp's hash: cached.
        from xmppd.pep.caps import ClientCaps
        [caps] = [h for h in xmpp.host() if isinstance(h, ClientCaps)]
        ver = await bob["xep_0115"].get_verstring(bob.boundjid)
        assert caps.cache.get(("sha-1", ver)) is not None
        assert "urn:xmpp:avatar:metadata+notify" in caps.cache.get(("sha-1", ver))
    finally:
        alice.disconnect()
        bob.disconnect()
