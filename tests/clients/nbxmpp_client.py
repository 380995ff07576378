#!/usr/bin/python3
"""
nbxmpp (Gajim's XMPP library, Debian's python3-nbxmpp) as a test subject.

Run with the system /usr/bin/python3, where Debian installs nbxmpp and its
GLib bindings, not with the test venv's interpreter.

Usage: nbxmpp_client.py HOST:PORT starttls|direct-tls USERNAME PASSWORD RESOURCE CERT
CERT is the server certificate this client accepts, as Gajim's user does
when it asks whether to trust an unknown certificate authority.

Same protocol as node/client.mjs: JSON events on stdout (online, message,
roster, sent, error), JSON commands on stdin (send, roster, add, quit).
"""

import json
import sys

import gi

gi.require_version("Gio", "2.0")
gi.require_version("GLib", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

from nbxmpp.client import Client  # noqa: E402
from nbxmpp.const import ConnectionProtocol, ConnectionType  # noqa: E402
from nbxmpp.protocol import JID, Message, Presence  # noqa: E402
from nbxmpp.structs import StanzaHandler  # noqa: E402

NS_DELAY = "urn:xmpp:delay"


def emit(**event):
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


class Subject:
    def __init__(self, address, transport, username, password, resource, certificate):
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

    def run(self):
        channel = GLib.IOChannel.unix_new(sys.stdin.fileno())
        GLib.io_add_watch(channel, GLib.PRIORITY_DEFAULT, GLib.IO_IN | GLib.IO_HUP, self.onInput)
        self.client.connect()
        self.loop.run()

    def onConnected(self, client, _signal):
        client.send_stanza(Presence())
        emit(event="online", jid=str(client.get_bound_jid()),
             tls=client.tls_version is not None, direct=client.current_connection_type.is_direct_tls)

    def onFailed(self, client, _signal):
        emit(event="error", message="connection failed: %s" % (client.get_error(),))
        self.loop.quit()

    def onDisconnected(self, client, _signal):
        emit(event="disconnected")
        self.loop.quit()

    def onMessage(self, _client, stanza, _properties):
        delay = stanza.getTag("delay", namespace=NS_DELAY)
        emit(event="message", **{"from": str(stanza.getFrom())}, type=stanza.getType() or "normal",
             body=stanza.getBody(), delay=delay.getAttr("stamp") if delay else None)

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
        elif "quit" in command:
            self.client.disconnect()
        return True


if __name__ == "__main__":
    Subject(*sys.argv[1:7]).run()
