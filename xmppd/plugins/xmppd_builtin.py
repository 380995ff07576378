"""The modules that ship with xmppd, found like any third-party plugin."""

from xmppd.config import Option, Schema
from xmppd.module import Module
from xmppd.modules import disco, ping, presence, version

discoModule = Module(
    "disco", disco.handlersFor,
    description="Service discovery (XEP-0030) of the host and its accounts")
pingModule = Module("ping", ping.handlersFor, description="XMPP Ping (XEP-0199)")
versionModule = Module(
    "version", version.handlersFor,
    Schema([Option("show_os", "bool", False,
                   "Also reveal the operating system's name in version replies")]),
    description="Software Version (XEP-0092)")
presenceModule = Module(
    "presence", lambda host, options: [presence.PresenceHandler(host)],
    description="Presence of local resources (RFC 6121 §4)")
