"""
What a routed message leaves behind once it is delivered and acknowledged:
nothing. Its element tree is freed by reference counting the moment the
server lets go of it, not at the next run of the cycle collector, which
otherwise walked and freed thousands of routed stanzas at once.
"""

import gc
import weakref

from tests.aio import asyncioTest, wait
from tests.c2s.hostile import hostileServer
from tests.rawclient import NS_CLIENT, RawClient, q
from xmppd.api import MESSAGE_ROUTE


@asyncioTest
async def test_a_delivered_message_is_freed_without_the_cycle_collector(
        make_database, tmp_path):
    server = await hostileServer(make_database, tmp_path)
    await wait(server.addUser("bob", "secret-bob"))
    routed = []

    def recording(message, routing):
        routed.append((weakref.ref(message), weakref.ref(message.body)))

    host = server.host()
    host.events.hook(MESSAGE_ROUTE, recording)
    collecting = gc.isenabled()
    gc.disable()
    try:
        alice = await RawClient.connect(server.port)
        await alice.login("alice", "secret-alice", "phone")
        bob = await RawClient.connect(server.port)
        await bob.login("bob", "secret-bob", "laptop")
        bob.sendRaw("<presence/>")
        await wait(server.available("bob@localhost"))
        alice.sendRaw("<message to='bob@localhost' type='chat' id='m1'>"
                      "<body>freed at once</body><thread>t1</thread></message>")
        while True:
            element = await bob.expect()
            if element.tag == q(NS_CLIENT, "message"):
                break
        assert element.findtext(q(NS_CLIENT, "body")) == "freed at once"
        # The pong comes after the answer to the server's acknowledgement
        # probe: the session has let go of what it wrote.
        await bob.roundTrip()
        assert len(routed) == 1
        assert [ref for pair in routed for ref in pair if ref() is not None] == []
        await alice.close()
        await bob.close()
    finally:
        host.events.unhook(MESSAGE_ROUTE, recording)
        if collecting:
            gc.enable()
        await wait(server.stop())
