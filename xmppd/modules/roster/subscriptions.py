"""
Presence subscriptions (RFC 6121 §3): the state machine of Appendix A.

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
themselves are pure functions applied by the store in one transaction.
"""

import dataclasses

from twisted.internet import defer
from twisted.python import log
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish
from wokkel.subprotocols import XMPPHandler

from xmppd.modules.presence import (SUBSCRIPTION_TYPES, accountQueue, availableSessions,
                                    outboundSession, routeAsServer, sendPresenceOf,
                                    sendUnavailableOf)
from xmppd.storage.interfaces import RosterFull
from xmppd.storage.roster import RosterRow, RosterState



def presenceStanza(kind, sender, to):
    presence = domish.Element((None, "presence"))
    presence["type"] = kind
    presence["from"] = sender
    presence["to"] = to
    return presence


# The state machine -----------------------------------------------------------


def outboundChange(kind, contact):
    """Appendix A.2: what the account's own ``kind`` does to its view of ``contact``."""

    def change(old):
        item = old.item
        if kind == "subscribe":
            item = item or RosterRow(contact)
            if not item.subscriptionTo:
                item = dataclasses.replace(item, pendingOut=True)
            return dataclasses.replace(old, item=item)
        if kind == "unsubscribe":
            if item is None:
                return old
            return dataclasses.replace(old, item=dataclasses.replace(
                item, subscriptionTo=False, pendingOut=False))
        if kind == "subscribed":
            if old.pendingIn is not None:
                item = item or RosterRow(contact)
                return RosterState(dataclasses.replace(
                    item, subscriptionFrom=True, approved=False), None)
            if item is not None and item.subscriptionFrom:
                return old
            # §3.4: approving a request that has not come yet.
            item = item or RosterRow(contact)
            return dataclasses.replace(old, item=dataclasses.replace(item, approved=True))
        # unsubscribed: deny a request, cancel a subscription or a pre-approval.
        if old.pendingIn is not None or (item is not None and item.subscriptionFrom):
            if item is not None:
                item = dataclasses.replace(item, subscriptionFrom=False, approved=False)
            return RosterState(item, None)
        if item is not None and item.approved:
            return dataclasses.replace(old, item=dataclasses.replace(item, approved=False))
        return old

    return change


def inboundChange(kind, xml):
    """Appendix A.3: what a contact's ``kind`` does to the account's view of it."""

    def change(old):
        item = old.item
        if kind == "subscribe":
            if item is not None and item.subscriptionFrom:
                return old
            if item is not None and item.approved:
                return RosterState(dataclasses.replace(
                    item, subscriptionFrom=True, approved=False), None)
            if old.pendingIn is not None:
                return old
            return dataclasses.replace(old, pendingIn=xml)
        if kind == "subscribed":
            if item is not None and item.pendingOut and not item.subscriptionTo:
                return dataclasses.replace(old, item=dataclasses.replace(
                    item, subscriptionTo=True, pendingOut=False))
            return old
        if kind == "unsubscribe":
            if old.pendingIn is not None or (item is not None and item.subscriptionFrom):
                if item is not None:
                    item = dataclasses.replace(item, subscriptionFrom=False, approved=False)
                return RosterState(item, None)
            return old
        # unsubscribed: the contact denied or cancelled the account's subscription.
        if item is not None and (item.subscriptionTo or item.pendingOut):
            return dataclasses.replace(old, item=dataclasses.replace(
                item, subscriptionTo=False, pendingOut=False))
        return old

    return change


def _sharedPresence(state):
    return state.item is not None and state.item.subscriptionFrom


# The handler -------------------------------------------------------------------


class SubscriptionHandler(XMPPHandler):
    def __init__(self, host, roster):
        XMPPHandler.__init__(self)
        self.host = host
        self.roster = roster
        self.queue = accountQueue(host)

    @property
    def store(self):
        return self.host.storage.roster

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
            d = self.queue.run(session.bareJID.full(), self.outbound,
                               presence, kind, session.bareJID, contact)
        elif contact.user and contact.host == self.host.domain:
            d = self.queue.run(contact.full(), self.inbound, presence, kind, contact,
                               JID(presence["from"]).userhostJID())
        else:
            return
        d.addErrback(log.err, "presence subscription handling failed")

    @defer.inlineCallbacks
    def outbound(self, presence, kind, owner, contact):
        if contact == owner:
            # One's own presence is always shared with oneself (§4.2.2).
            return
        try:
            old, new, version = yield self.store.transition(
                owner.full(), contact.full(), outboundChange(kind, contact.full()),
                self.roster.maxItems)
        except RosterFull:
            self.host.bounce(presence, "not-allowed", "cancel",
                             "The roster is full (at most %d items)" % self.roster.maxItems)
            return
        if new.item != old.item:
            self.roster.push(owner, new.item, version)
        if kind == "subscribed" and old.pendingIn is None:
            return
        if kind == "unsubscribed" and old.pendingIn is None and not _sharedPresence(old):
            return
        presence["from"] = owner.full()
        presence["to"] = contact.full()
        routeAsServer(self.host, presence)
        if kind == "subscribed":
            # §3.1.5: the new subscriber learns the current presence at once.
            sendPresenceOf(self.host, owner, contact.full())
        elif kind == "unsubscribed" and _sharedPresence(old):
            # §3.2.2: and the former one learns it will see nothing more.
            sendUnavailableOf(self.host, owner, contact.full())

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
        old, new, version = yield self.store.transition(
            owner.full(), contact.full(), inboundChange(kind, presence.toXml()))
        if new.item != old.item:
            self.roster.push(owner, new.item, version)
        if kind == "subscribe" and _sharedPresence(new):
            # Already subscribed, or pre-approved (§3.4): answered here.
            routeAsServer(self.host, presenceStanza(
                "subscribed", owner.full(), contact.full()))
            if not _sharedPresence(old):
                sendPresenceOf(self.host, owner, contact.full())
            return
        if new == old:
            # Nothing changed: a repeated request, or a stanza that means
            # nothing in this state (Appendix A.3: ignored).
            return
        for session in availableSessions(self.host, owner):
            session.send(presence)
        if kind == "unsubscribe" and _sharedPresence(old):
            sendUnavailableOf(self.host, owner, contact.full())
