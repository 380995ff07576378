"""twistd plugin: ``twistd xmppd`` builds the service tree in xmppd.tap."""

from twisted.application.service import ServiceMaker

xmppd = ServiceMaker(
    "xmppd",
    "xmppd.tap",
    "An XMPP server built around offline messages",
    "xmppd",
)
