"""
Message of the day: once a day, a user's first available resource gets the
host's message; admins change it with an IQ.

The whole module uses only ``xmppd.api``: an option schema, a handler on the
``RESOURCE_AVAILABLE`` event, an IQ handler, the host's clock for "today",
and the core's per-user settings store for its state (the message under the
host's own JID, and for each user the day it was last sent). It needs no
other module and no table of its own; ``examples/xmppd-digest`` shows both.
"""

import datetime

from twisted.internet import defer
from twisted.words.xish import domish

from xmppd.api import (
    JID, RESOURCE_AVAILABLE, IQHandlerMixin, Module, Option, Schema, StanzaError, XMPPHandler,
)

NS_MOTD = "urn:xmppd:motd"
SETTINGS_NODE = "motd"
MOTD_GET = "/iq[@type='get']/motd[@xmlns='%s']" % NS_MOTD
MOTD_SET = "/iq[@type='set']/motd[@xmlns='%s']" % NS_MOTD


class MessageOfTheDay(XMPPHandler, IQHandlerMixin):
    iqHandlers = {MOTD_GET: "onGet", MOTD_SET: "onSet"}

    def __init__(self, host, options):
        XMPPHandler.__init__(self)
        self.host = host
        self.options = options

    def connectionInitialized(self):
        self.xmlstream.addObserver(MOTD_GET, self.handleRequest)
        self.xmlstream.addObserver(MOTD_SET, self.handleRequest)
        self.host.events.hook(RESOURCE_AVAILABLE, self.onAvailable)
        self.host.addDiscoFeature(NS_MOTD)

    def connectionLost(self, reason):
        self.host.events.unhook(RESOURCE_AVAILABLE, self.onAvailable)
        XMPPHandler.connectionLost(self, reason)

    def today(self):
        """The UTC date on the host's clock: the one xmppd schedules with."""
        now = self.host.clock.seconds()
        return datetime.datetime.fromtimestamp(now, datetime.timezone.utc).date()

    def currentMessage(self):
        d = self.host.storage.settings.get(self.host.domain, SETTINGS_NODE, "message")
        d.addCallback(lambda stored: stored if stored is not None else self.options.message)
        return d

    def onAvailable(self, session):
        # Not returned: the event goes on to other modules (offline delivery).
        self.greet(session)

    @defer.inlineCallbacks
    def greet(self, session):
        settings = self.host.storage.settings
        user = session.bareJID.userhost()
        today = self.today().isoformat()
        if (yield settings.get(user, SETTINGS_NODE, "last-sent")) == today:
            return
        text = yield self.currentMessage()
        if not text:
            return
        yield settings.set(user, SETTINGS_NODE, "last-sent", today)
        message = domish.Element((None, "message"))
        message["to"] = session.jid.full()
        message["type"] = "headline"
        message.addElement("subject", content="Message of the day")
        message.addElement("body", content=text)
        self.host.send(message)

    @defer.inlineCallbacks
    def onGet(self, iq):
        reply = domish.Element((NS_MOTD, "motd"))
        reply.addContent((yield self.currentMessage()) or "")
        return reply

    @defer.inlineCallbacks
    def onSet(self, iq):
        sender = JID(iq["from"]).userhost()
        if sender not in self.host.config.admins:
            raise StanzaError("forbidden", text="only admins change the message of the day")
        text = str(next(iq.elements())).strip()
        yield self.host.storage.settings.set(self.host.domain, SETTINGS_NODE, "message", text)
        return None


motdModule = Module(
    "motd",
    lambda host, options: [MessageOfTheDay(host, options)],
    Schema([
        Option("message", "str", "Welcome!",
               "The message sent until an admin sets another one with the IQ"),
    ]),
    enabledByDefault=False,
    description="Message of the day at each user's first login of the day",
)
