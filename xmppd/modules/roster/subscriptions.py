"""
Presence subscriptions (RFC 6121 §3): the handshake, on the state machine
of Appendix A.

Each direction of a subscription is a flag on the roster item
(``subscriptionTo``: the account sees the contact's presence;
``subscriptionFrom``: the contact sees the account's), plus ``pendingOut``
(ask="subscribe"), the pending-in request kept apart from the roster, and
``approved`` (a pre-approval, §3.4).

*Outbound* stanzas are what a local account sends: they change its roster
and are routed on from its bare JID — only when they mean something to the
contact (a ``subscribed`` nobody asked for is a pre-approval and stays
here). *Inbound* stanzas are what arrives for a local account: they change
its roster and reach its available resources; a request for an account
with no available resource is kept and delivered when it next becomes
available (§3.1.3), and a repeated request is not delivered again.

Every change that touches the roster is pushed; the state changes
themselves are the roster manager's (``host.rosters``), applied by the
store in one transaction.
"""

from twisted.internet import defer
from twisted.python import log
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish
from wokkel.subprotocols import XMPPHandler

from xmppd.api import RosterFull, SUBSCRIPTION_TYPES, outboundSession, routeAsServer


def presenceStanza(kind, sender, to):
    presence = domish.Element((None, "presence"))
    presence["type"] = kind
    presence["from"] = sender
    presence["to"] = to
    return presence


class SubscriptionHandler(XMPPHandler):
    def __init__(self, host, roster):
        XMPPHandler.__init__(self)
        self.host = host
        self.roster = roster
        self.rosters = host.rosters

    def connectionInitialized(self):
        # Before presence's own observer, which would deliver them blindly.
        self.xmlstream.addObserver("/presence", self.onPresence, 10)

    def onPresence(self, presence):
        kind = presence.getAttribute("type")
        if kind not in SUBSCRIPTION_TYPES or getattr(presence, "handled", False):
            return
        presence.handled = True
        if not presence.getAttribute("to") or not presence.getAttribute("from"):
            return
        # §3.1.2: subscriptions are between bare JIDs, whatever was addressed.
        contact = JID(presence["to"]).userhostJID()
        session = outboundSession(self.host, presence)
        if session is not None:
            d = self.rosters.lanes.run(session.bareJID.full(), self.outbound,
                                       presence, kind, session.bareJID, contact)
        elif contact.user and contact.host == self.host.domain:
            d = self.rosters.lanes.run(contact.full(), self.inbound, presence, kind,
                                       contact, JID(presence["from"]).userhostJID())
        else:
            return
        d.addErrback(log.err, "presence subscription handling failed")

    @defer.inlineCallbacks
    def outbound(self, presence, kind, owner, contact):
        if contact == owner:
            # One's own presence is always shared with oneself (§4.2.2).
            return
        try:
            change = yield self.rosters.outboundSubscription(
                owner.full(), contact.full(), kind, self.roster.maxItems)
        except RosterFull:
            self.host.bounce(presence, "not-allowed", "cancel",
                             "The roster is full (at most %d items)" % self.roster.maxItems)
            return
        if change.itemChanged:
            self.roster.push(owner, change.after.item, change.version)
        old = change.before
        if kind == "subscribed" and old.pendingIn is None:
            return
        if kind == "unsubscribed" and old.pendingIn is None and not old.sharesPresence:
            return
        presence["from"] = owner.full()
        presence["to"] = contact.full()
        routeAsServer(self.host, presence)
        if kind == "subscribed":
            # §3.1.5: the new subscriber learns the current presence at once.
            self.rosters.sendPresenceOf(owner, contact.full())
        elif kind == "unsubscribed" and old.sharesPresence:
            # §3.2.2: and the former one learns it will see nothing more.
            self.rosters.sendUnavailableOf(owner, contact.full())

    @defer.inlineCallbacks
    def inbound(self, presence, kind, owner, contact):
        presence["from"] = contact.full()
        presence["to"] = owner.full()
        if not (yield self.host.isLocalUser(owner)):
            if kind == "subscribe":
                # §3.1.3: a request to an account that does not exist is denied.
                routeAsServer(self.host, presenceStanza(
                    "unsubscribed", owner.full(), contact.full()))
            return
        change = yield self.rosters.inboundSubscription(
            owner.full(), contact.full(), kind, presence.toXml())
        if change.itemChanged:
            self.roster.push(owner, change.after.item, change.version)
        if kind == "subscribe" and change.after.sharesPresence:
            # Already subscribed, or pre-approved (§3.4): answered here.
            routeAsServer(self.host, presenceStanza(
                "subscribed", owner.full(), contact.full()))
            if not change.before.sharesPresence:
                self.rosters.sendPresenceOf(owner, contact.full())
            return
        if not change.changed:
            # Nothing changed: a repeated request, or a stanza that means
            # nothing in this state (Appendix A.3: ignored).
            return
        for session in self.rosters.availableSessions(owner):
            session.send(presence)
        if kind == "unsubscribe" and change.before.sharesPresence:
            self.rosters.sendUnavailableOf(owner, contact.full())
