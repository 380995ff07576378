"""
Building blocks for offline-message transcripts: named clients that log in,
come online with a priority, send and read messages.
"""

import re
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from tests.rawclient import NS_CLIENT, NS_STANZAS, RawClient, q

NS_DELAY = "urn:xmpp:delay"
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


async def connect(xmpp, name, resource="r1"):
    """A bound resource of ``name`` that has sent no presence."""
    client = await RawClient.connect(xmpp.port)
    await client.login(name, "secret-" + name, resource)
    client.name = name
    return client


async def online(xmpp, name, resource="r1", priority=None):
    """A resource of ``name`` that sent its initial presence and saw it reflected."""
    client = await connect(xmpp, name, resource)
    await sendPresence(client, priority)
    return client


async def sendPresence(client, priority=None):
    inner = "" if priority is None else "<priority>%d</priority>" % priority
    client.sendRaw("<presence>%s</presence>" % inner)
    while True:
        # The account's other resources' presence may come first (RFC 6121 §4.4.2).
        reflected = await client.expect()
        assert reflected.tag == q(NS_CLIENT, "presence"), ET.tostring(reflected)
        if reflected.get("from") == client.jid:
            return reflected


def message(to, id, body=None, type="chat", payload=""):
    kind = "" if type is None else " type='%s'" % type
    text = "" if body is None else "<body>%s</body>" % escape(body)
    return "<message to='%s' id='%s'%s>%s%s</message>" % (to, id, kind, text, payload)


def send(client, to, id, body=None, type="chat", payload=""):
    client.sendRaw(message(to, id, body, type, payload))


async def expectMessages(client, count):
    """The next ``count`` messages, past any presence of the account's resources."""
    received = []
    while len(received) < count:
        element = await client.expect()
        if element.tag == q(NS_CLIENT, "presence"):
            continue
        assert element.tag == q(NS_CLIENT, "message"), ET.tostring(element)
        received.append(element)
    return received


def body(element):
    return element.findtext(q(NS_CLIENT, "body"))


def assertOfflineCopy(element, sender, id, text, host="localhost"):
    """A stored message as delivered: from, id, body, and the one server delay."""
    assert element.get("from") == sender, ET.tostring(element)
    assert element.get("id") == id, ET.tostring(element)
    assert body(element) == text, ET.tostring(element)
    delays = [d for d in element.findall(q(NS_DELAY, "delay")) if d.get("from") == host]
    assert len(delays) == 1, ET.tostring(element)
    assert delays[0].text == "Offline Storage"
    assert STAMP.match(delays[0].get("stamp")), delays[0].get("stamp")


def assertBounce(element, id, condition, errorType="cancel", text=None, code=None,
                 sender=None, body=None):
    """An RFC 6120 §8.3 error reply: id kept, payload kept, error last."""
    assert element.tag == q(NS_CLIENT, "message"), ET.tostring(element)
    assert element.get("type") == "error", ET.tostring(element)
    assert element.get("id") == id, ET.tostring(element)
    if sender is not None:
        assert element.get("from") == sender, ET.tostring(element)
    if body is not None:
        assert element.findtext(q(NS_CLIENT, "body")) == body, ET.tostring(element)
    error = list(element)[-1]
    assert error.tag == q(NS_CLIENT, "error"), ET.tostring(element)
    assert error.get("type") == errorType, ET.tostring(element)
    if code is not None:
        assert error.get("code") == code, ET.tostring(element)
    children = [c.tag for c in error]
    assert children[0] == q(NS_STANZAS, condition), ET.tostring(element)
    if text is not None:
        assert error.findtext(q(NS_STANZAS, "text")) == text, ET.tostring(element)
    return error


async def expectSilence(*clients):
    """
    No message or IQ reached any of ``clients`` (a ping round trip each);
    presence of the account's own resources coming and going is allowed.
    """
    for client in clients:
        got = [e for e in await client.roundTrip() if e.tag != q(NS_CLIENT, "presence")]
        assert got == [], (client.name, [ET.tostring(e) for e in got])


async def storedCount(xmpp, user):
    """
    What is stored for ``user`` once the work in its lane is done: a
    delivery deletes its last batch when the client's answer to the ping
    after it arrives, which a client sends as it reads (``expect``). With
    the offline module off its store is not even open: nothing is stored.
    The queue counted is the one in use (mam's with ``offline_in_archive``).
    """
    from tests.aio import wait
    account = "%s@localhost" % user
    await wait(xmpp.server.pipeline.run(account, lambda: None))
    if "offline" not in xmpp.storage:
        return 0
    return await wait(xmpp.offlineQueue().count(account))


async def settle(xmpp, recipient, *senders):
    """
    Wait until every message the ``senders`` sent so far to ``recipient``
    went through the offline handling (decided, stored or bounced), and
    return what each sender received meanwhile. After it, a round trip
    proves that no bounce is still on its way.
    """
    from tests.aio import wait
    early = [await sender.roundTrip() for sender in senders]
    await wait(xmpp.server.pipeline.run("%s@localhost" % recipient, lambda: None))
    return early


async def readUntilDelivered(xmpp, client):
    """
    Every element ``client`` receives until the work its account has queued
    is over (``RunningServer.accountWorkDone``), in order. The message lane
    alone is not enough: an initial presence waits for its roster before
    it starts the offline delivery, and a client can get an answer -- a
    MAM page, a pong -- while that read is still on the database. The
    delivery's batches are acknowledged by the pings the client answers
    while it reads here.
    """
    from tests.aio import wait
    account = client.jid.split("/")[0]
    # Past this pong the server has read everything the client sent before.
    received = await client.roundTrip()
    # A future, not the Deferred: its ``called`` is true as soon as the
    # roster lane is through, while it still waits for the message lane.
    over = wait(xmpp.accountWorkDone(account))
    while not over.done():
        received.extend(await client.roundTrip())
    over.result()
    # What the delivery's end released (held live stanzas) comes behind it.
    received.extend(await client.roundTrip())
    return received


async def assertDroppedSilently(xmpp, sender, recipient):
    early = await settle(xmpp, recipient, sender)
    assert early == [[]]
    await expectSilence(sender)
    assert await storedCount(xmpp, recipient) == 0


async def leave(xmpp, client, abort=False):
    """Close (or cut) ``client``'s stream and wait until the server let the resource go."""
    from twisted.internet.defer import Deferred

    from tests.aio import wait
    host = xmpp.host()
    gone = Deferred()

    def onUnbound(session):
        if session.jid.full() == client.jid and not gone.called:
            gone.callback(None)

    host.events.hook("resource-unbound", onUnbound, 1000)
    try:
        if abort:
            client.abort()
        else:
            await client.close()
        if host.sessions.get(client.jid) is not None:
            await wait(gone)
    finally:
        host.events.unhook("resource-unbound", onUnbound)
