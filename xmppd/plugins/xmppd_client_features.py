"""What modern clients ask for at login, one module each, found like any plugin."""

from xmppd.config import Option, Schema
from xmppd.module import Module
from xmppd.lastactivity.store import LastActivityStore
from xmppd.modules import caps, entitytime, lastactivity, private, vcard
from xmppd.private.store import PrivateXMLStore
from xmppd.vcard.store import VCardStore

timeModule = Module("time", entitytime.handlersFor,
                    description="Entity Time (XEP-0202) of the server")
lastModule = Module(
    "last", lastactivity.handlersFor,
    description="Last Activity (XEP-0012): server uptime, and accounts' last logout"
                " for their subscribed contacts",
    stores={"lastActivity": LastActivityStore},
    tables="xmppd.lastactivity")
privateModule = Module(
    "private", private.handlersFor,
    Schema([
        Option("max_element_size", "int", 65536,
               "Largest element one namespace may hold, in bytes", minimum=1),
        Option("max_namespaces", "int", 100,
               "Most namespaces an account may keep", minimum=1),
    ]),
    description="Private XML Storage (XEP-0049), where legacy bookmarks live",
    stores={"privateXML": PrivateXMLStore},
    tables="xmppd.private")
vcardModule = Module(
    "vcard", vcard.handlersFor,
    Schema([
        Option("max_size", "int", 131072,
               "Largest vCard an account may set, in bytes (its photo included)", minimum=1),
    ]),
    description="vcard-temp (XEP-0054): accounts' vCards kept by the server",
    stores={"vcards": VCardStore},
    tables="xmppd.vcard")
capsModule = Module("caps", caps.handlersFor,
                    description="Entity Capabilities (XEP-0115) of the server in stream features")
