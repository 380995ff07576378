"""The modules that ship with xmppd, found like any third-party plugin."""

from xmppd.api import Module, Option, Schema
from xmppd.modules import disco, ping, presence, register, version

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
registerModule = Module(
    "register", register.handlersFor,
    Schema([
        Option("allow_registration", "bool", True,
               "Let new users create accounts over the stream (XEP-0077)"),
        Option("allow_removal", "bool", True,
               "Let users delete their own account in-band"),
        Option("min_seconds_between_registrations", "duration", "60s",
               "Minimum time between two registrations from one IP address"),
    ]),
    enabledByDefault=False,
    description="In-band registration and password change (XEP-0077)")
