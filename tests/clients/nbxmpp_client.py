#!/usr/bin/python3
"""
nbxmpp (Gajim's XMPP library, Debian's python3-nbxmpp) as a test subject.

Run with the system /usr/bin/python3, where Debian installs nbxmpp and its
GLib bindings, not with the test venv's interpreter.

Usage: nbxmpp_client.py HOST:PORT starttls|direct-tls USERNAME PASSWORD RESOURCE CERT [NOTIFY]
CERT is the server certificate this client accepts, as Gajim's user does
when it asks whether to trust an unknown certificate authority. NOTIFY is a
comma-separated list of PEP nodes the client wants (``NODE+notify`` in the
XEP-0115 caps of its presence, which it answers disco#info about, as Gajim
sets them up with nbxmpp's EntityCaps module).

Same protocol as node/client.mjs: JSON events on stdout (online, message,
roster, sent, error, and here carbons, pep, published, items), JSON
commands on stdin (send, roster, add, quit, and here carbons, nick,
devicelist, items).
"""

import json
import sys

import gi

gi.require_version("Gio", "2.0")
gi.require_version("GLib", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

from nbxmpp.client import Client  # noqa: E402
from nbxmpp.const import ConnectionProtocol, ConnectionType  # noqa: E402
from nbxmpp.namespaces import Namespace  # noqa: E402
from nbxmpp.protocol import JID, Iq, Message, Presence  # noqa: E402
from nbxmpp.structs import DiscoIdentity, StanzaHandler  # noqa: E402

NS_DELAY = "urn:xmpp:delay"
CAPS_URI = "https://gajim.org"


def emit(**event):
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


class Subject:
    def __init__(self, address, transport, username, password, resource, certificate,
                 notify=""):
        self.notify = [node for node in notify.split(",") if node]
        self.loop = GLib.MainLoop()
        client = self.client = Client()
        client.set_domain("localhost")
        client.set_username(username)
        client.set_password(password)
        client.set_resource(resource)
        kind = ConnectionType.START_TLS if transport == "starttls" else ConnectionType.DIRECT_TLS
        client.set_custom_host(address, ConnectionProtocol.TCP, kind)
        client.set_accepted_certificates([Gio.TlsCertificate.new_from_file(certificate)])
        client.subscribe("connected", self.onConnected)
        client.subscribe("connection-failed", self.onFailed)
        client.subscribe("disconnected", self.onDisconnected)
        client.register_handler(StanzaHandler(name="message", callback=self.onMessage))
        features = [Namespace.DISCO_INFO, Namespace.CAPS, Namespace.CARBONS]
        features += ["%s+notify" % node for node in self.notify]
        client.get_module("EntityCaps").set_caps(
            [DiscoIdentity(category="client", type="pc", name="Gajim")], features, CAPS_URI)

    def run(self):
        channel = GLib.IOChannel.unix_new(sys.stdin.fileno())
        GLib.io_add_watch(channel, GLib.PRIORITY_DEFAULT, GLib.IO_IN | GLib.IO_HUP, self.onInput)
        self.client.connect()
        self.loop.run()

    def onConnected(self, client, _signal):
        presence = Presence()
        caps = client.get_module("EntityCaps").caps
        # As Gajim's presence module: the caps ride on every available presence.
        presence.setTag("c", namespace=Namespace.CAPS, attrs=caps._asdict())
        client.send_stanza(presence)
        emit(event="online", jid=str(client.get_bound_jid()),
             tls=client.tls_version is not None, direct=client.current_connection_type.is_direct_tls)

    def onFailed(self, client, _signal):
        emit(event="error", message="connection failed: %s" % (client.get_error(),))
        self.loop.quit()

    def onDisconnected(self, client, _signal):
        emit(event="disconnected")
        self.loop.quit()

    def onMessage(self, _client, stanza, properties):
        if properties.is_pubsub_event:
            event = properties.pubsub_event
            data = event.data
            if data is None and event.item is not None:
                data = str(event.item)
            return emit(event="pep", **{"from": str(properties.jid)}, node=event.node,
                        id=event.id, data=data)
        delay = stanza.getTag("delay", namespace=NS_DELAY)
        message = {"from": str(stanza.getFrom()), "to": str(stanza.getTo()),
                   "type": stanza.getType() or "normal", "body": stanza.getBody(),
                   "delay": delay.getAttr("stamp") if delay else None}
        if properties.is_carbon_message:
            # nbxmpp has unwrapped it, after checking it came from our own account.
            return emit(event="carbon", kind=properties.carbon.type, **message)
        emit(event="message", **message)

    def onCarbons(self, _client, stanza):
        if stanza.getType() != "result":
            return emit(event="error", message="carbons: %s" % (stanza,))
        emit(event="carbons")

    def onPublished(self, task):
        try:
            result = task.finish()
        except Exception as e:
            return emit(event="error", message="publish: %r" % (e,))
        emit(event="published", node=result.node, id=result.id)

    def onItems(self, task):
        try:
            items = task.finish()
        except Exception as e:
            return emit(event="error", message="items: %r" % (e,))
        emit(event="items", items=[{"id": item.getAttr("id"), "payload": str(item)}
                                   for item in items])

    def onRoster(self, task):
        try:
            roster = task.finish()
        except Exception as e:
            return emit(event="error", message="roster: %r" % (e,))
        emit(event="roster", version=roster.version,
             items=sorted(({"jid": str(item.jid), "name": item.name,
                            "subscription": item.subscription}
                           for item in roster.items or []), key=lambda i: i["jid"]))

    def onItemSet(self, task):
        try:
            task.finish()
        except Exception as e:
            return emit(event="error", message="roster set: %r" % (e,))
        emit(event="added")

    def onInput(self, channel, condition):
        line = sys.stdin.readline()
        if not line:
            self.client.disconnect()
            return False
        command = json.loads(line)
        if "send" in command:
            self.client.send_stanza(Message(to=JID.from_string(command["send"]["to"]),
                                            body=command["send"]["body"], typ="chat"))
            emit(event="sent", to=command["send"]["to"])
        elif "roster" in command:
            self.client.get_module("Roster").request_roster(callback=self.onRoster)
        elif "add" in command:
            self.client.get_module("Roster").set_item(
                JID.from_string(command["add"]["jid"]), command["add"]["name"],
                callback=self.onItemSet)
        elif "carbons" in command:
            # nbxmpp leaves enabling carbons to the application; Gajim sends this.
            iq = Iq(typ="set")
            iq.addChild("enable", namespace=Namespace.CARBONS)
            self.client.send_stanza(iq, callback=self.onCarbons)
        elif "nick" in command:
            self.client.get_module("Nickname").set_nickname(
                command["nick"], callback=self.onPublished)
        elif "devicelist" in command:
            self.client.get_module("OMEMO").set_devicelist(
                command["devicelist"], callback=self.onPublished)
        elif "items" in command:
            jid = command["items"].get("jid")
            self.client.get_module("PubSub").request_items(
                command["items"]["node"], jid=JID.from_string(jid) if jid else None,
                callback=self.onItems)
        elif "quit" in command:
            self.client.disconnect()
        return True


if __name__ == "__main__":
    Subject(*sys.argv[1:8]).run()
