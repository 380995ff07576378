"""
The roster manager: what presence and the roster module share (after
Prosody's ``core/rostermanager.lua``), reached by modules as ``host.rosters``.

- the roster of an account and the state of one contact on it, as Wokkel
  ``RosterItem``s (the storage rows stay in here);
- the subscription state machine of RFC 6121 Appendix A, outbound (what
  the account sends) and inbound (what is sent to it), applied by the store
  in one transaction per change;
- the contacts question: whom an account's presence goes to, whose presence
  it sees, and the subscription requests still waiting for its answer;
- the presence an account shows, for the subscription changes that reveal
  or hide it (§3.1.5, §3.2.2);
- ``lanes``: one FIFO per account (``xmppd.lanes.Lanes``) for everything
  that touches its roster or presence state -- roster IQs, its outbound
  presence, presence and subscriptions addressed to it -- so that a roster
  get followed by initial presence is answered in that order although both
  wait on the database, and an inbound ``subscribed`` and the presence that
  follows it reach the client in the order they were sent. These lanes are
  apart from the message lanes (``host.lanes``), where an offline delivery
  waits for the client's acknowledgement: a roster get never waits for it.

A login asks for the roster and then sends its initial presence, which
needs the roster again: on a single server the roster get reads what the
presence will need too, and the presence takes it if no roster changed
in between (every change goes through ``_transition``). That view is kept
for the account's later logins as well (the most recent ``KEPT_VIEWS``
accounts), so a client that reconnects reads nothing while no roster on
the server changed: any change drops every view, since one account's view
holds which local contacts agree to show it their presence. The rows read
for it then answer the later questions about the same roster -- whom the
logout's unavailable presence goes to, who may probe -- until a change
of that roster (or the account's deletion) drops them. Cluster nodes read
again, since another node may change the roster in between.
"""

import collections
import dataclasses

from twisted.internet import defer
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish
from wokkel.generic import parseXml
from wokkel.xmppim import RosterItem

from xmppd.events import ACCOUNT_DELETED
from xmppd.stanzas import copyStanza, routeAsServer
from xmppd.storage.roster import RosterRow, RosterState


class Contacts:
    """
    What the roster tells presence about one account: ``subscribers`` get
    its broadcasts, ``publishers`` are those whose presence it may see (for
    local ones the roster has checked their own rosters agree), and, for an
    initial presence, ``pendingRequests``: the subscription request stanzas
    still waiting for the account's answer.
    """

    def __init__(self, subscribers=(), publishers=(), pendingRequests=()):
        self.subscribers = list(subscribers)
        self.publishers = list(publishers)
        self.pendingRequests = list(pendingRequests)


class ContactState:
    """
    One contact as its owner's server knows it: ``item``, the RosterItem
    (None when the contact is not on the roster), and ``pendingIn``, the
    XML of the contact's request to see the owner's presence while it waits
    for an answer (None otherwise).
    """

    def __init__(self, item, pendingIn):
        self.item = item
        self.pendingIn = pendingIn

    @property
    def sharesPresence(self):
        """Whether the contact sees the owner's presence (``from`` or ``both``)."""
        return self.item is not None and self.item.subscriptionFrom


class RosterChange:
    """
    What one change did to one contact: its state ``before`` and ``after``,
    the roster ``version`` after it, whether the roster item changed
    (``itemChanged``: the change is pushed) and whether anything did.
    """

    def __init__(self, old, new, version):
        self.before = _stateOf(old)
        self.after = _stateOf(new)
        self.version = version
        self.itemChanged = new.item != old.item
        self.changed = new != old


def rosterItemOf(row):
    """The Wokkel item of a stored row."""
    item = RosterItem(JID(row.contact), row.subscriptionTo, row.subscriptionFrom,
                      row.name, list(row.groups))
    item.pendingOut = row.pendingOut
    item.approved = row.approved
    return item


def _stateOf(state):
    item = rosterItemOf(state.item) if state.item is not None else None
    return ContactState(item, state.pendingIn)


# The views read by roster gets and initial presences, kept for the
# account's initial presence and its next logins (LRU).
KEPT_VIEWS = 1_000
# Rosters whose rows are kept for the presence questions (LRU): a roster
# may hold hundreds of items, so a thousand of them, tens of MB at most.
KEPT_ROSTERS = 1_000


class RosterManager:
    def __init__(self, host):
        self.host = host
        cluster = getattr(host.config, "cluster", None)
        self.sharesReads = cluster is None or not cluster.enabled
        # Counts roster changes begun and ended: a view read while one was
        # under way is not used.
        self.changes = 0
        # Owner -> (changes when read, version, rows, requests, agreeing).
        self.presenceViews = collections.OrderedDict()
        # Owner -> its roster rows, dropped by any change of that roster.
        self.keptRows = collections.OrderedDict()
        # A deleted account's rows go with it, not through _transition.
        host.events.hook(ACCOUNT_DELETED, self._forgetViews)

    def _forgetViews(self, owner=None):
        self.changes += 1
        self.presenceViews.clear()
        if owner is not None:
            self.keptRows.pop(owner, None)

    def _keepRows(self, changes, owner, rows):
        """Keep what a read begun at ``changes`` found, unless a roster changed since."""
        if not self.sharesReads or changes != self.changes:
            return
        self.keptRows[owner] = rows
        self.keptRows.move_to_end(owner)
        while len(self.keptRows) > KEPT_ROSTERS:
            self.keptRows.popitem(last=False)

    @property
    def store(self):
        return self.host.storage.roster

    @property
    def lanes(self):
        return self.host.server.rosterLanes

    # Items -------------------------------------------------------------------

    def getRoster(self, owner):
        """Fire ``(version, [RosterItem])`` of ``owner``'s roster, in contact order."""
        if not self.sharesReads:
            return self.store.getRoster(owner).addCallback(
                lambda result: (result[0], [rosterItemOf(row) for row in result[1]]))
        view = self._keptView(owner)
        if view is not None:
            return defer.succeed(_rosterOfView(view))
        return self._presenceView(owner).addCallback(_rosterOfView)

    def keptRoster(self, owner):
        """
        ``getRoster``'s answer when the kept view has it, else None: a
        login's roster get is then answered in the same call, without a
        Deferred or a generator.
        """
        view = self._keptView(owner)
        return None if view is None else _rosterOfView(view)

    def _keptView(self, owner):
        view = self.presenceViews.get(owner)
        if view is not None and view[0] == self.changes:
            self.presenceViews.move_to_end(owner)
            return view
        return None

    def _presenceView(self, owner):
        """
        Fire ``(changes, version, rows, requests, agreeing)`` of ``owner``:
        the kept view if no roster changed since it was read, else a new
        read, kept unless a change began or ended while it ran.
        """
        view = self._keptView(owner)
        if view is not None:
            return defer.succeed(view)
        changes = self.changes
        d = self.store.initialPresenceView(owner)

        def read(result):
            version, rows, requests, agreeing = result
            view = (changes, version, rows, requests, agreeing)
            self._keepRows(changes, owner, rows)
            if self.sharesReads and changes == self.changes:
                self.presenceViews[owner] = view
                self.presenceViews.move_to_end(owner)
                while len(self.presenceViews) > KEPT_VIEWS:
                    self.presenceViews.popitem(last=False)
            return view
        return d.addCallback(read)

    def contactState(self, owner, contact):
        """Fire the ContactState of ``contact`` on ``owner``'s roster."""
        return self.store.getState(owner, contact).addCallback(_stateOf)

    def sharesPresenceWith(self, owner, contact):
        """Fire whether ``contact`` is subscribed to ``owner``'s presence."""
        return self.contactState(owner, contact).addCallback(
            lambda state: state.sharesPresence)

    def setItem(self, owner, contact, name, groups, maxItems=None):
        """
        Add or update an item's name and groups (its subscription belongs to
        the handshake); fire the RosterChange, or fail with RosterFull.
        """
        def change(old):
            row = old.item or RosterRow(contact)
            return dataclasses.replace(
                old, item=dataclasses.replace(row, name=name, groups=tuple(groups)))
        return self._transition(owner, contact, change, maxItems)

    def removeItem(self, owner, contact):
        """Take ``contact`` off the roster, with any request it has pending."""
        return self._transition(owner, contact, lambda old: RosterState(None, None))

    # Subscriptions (RFC 6121 §3) ----------------------------------------------------

    def outboundSubscription(self, owner, contact, kind, maxItems=None):
        """Apply the account's own ``kind`` to its view of ``contact`` (Appendix A.2)."""
        return self._transition(owner, contact, outboundChange(kind, contact), maxItems)

    def inboundSubscription(self, owner, contact, kind, xml):
        """Apply the contact's ``kind`` (its stanza's ``xml``) to the account's view (A.3)."""
        return self._transition(owner, contact, inboundChange(kind, xml))

    def _transition(self, owner, contact, change, maxItems=None):
        self._forgetViews(owner)
        d = self.store.transition(owner, contact, change, maxItems)

        def ended(result):
            self._forgetViews(owner)
            return result
        d.addBoth(ended)
        return d.addCallback(lambda result: RosterChange(*result))

    # The contacts question ------------------------------------------------------------

    def contacts(self, owner, initial):
        """
        The Contacts of ``owner`` (with ``initial``, its pending requests
        too); a Deferred firing them only when the store must be read. A
        login's initial presence and its logout find what they need kept
        and go on in the same call.
        """
        if not initial:
            rows = self.keptRows.get(owner)
            if rows is not None:
                self.keptRows.move_to_end(owner)
                return _contactsOfRows(rows)
            changes = self.changes

            def read(result):
                rows = result[1]
                self._keepRows(changes, owner, rows)
                return _contactsOfRows(rows)
            return self.store.getRoster(owner).addCallback(read)
        # One database interaction for all an initial presence asks, if
        # the roster get before it did not read it already.
        view = self._keptView(owner)
        if view is not None:
            return self._initialContacts(view)
        return self._presenceView(owner).addCallback(self._initialContacts)

    def _initialContacts(self, view):
        _, _, rows, pending, agreeing = view
        subscribers = [row.contact for row in rows if row.subscriptionFrom]
        publishers = [row.contact for row in rows if row.subscriptionTo]
        isLocal = self.host.isLocalDomain
        if agreeing is not None:
            # A local contact's own roster has the last word on its presence.
            publishers = [c for c in publishers
                          if not isLocal(JID(c).host) or JID(c).userhost() in agreeing]
        return Contacts(subscribers, publishers, [parseXml(xml.encode("utf-8"))
                                                  for _, xml in pending])

    # The presence an account shows ------------------------------------------------------

    def availableSessions(self, jid):
        """The sessions presence to ``jid`` goes to: that resource, or every available one."""
        sessions = self.host.sessions
        if jid.resource:
            session = sessions.get(jid)
            return [session] if session is not None else []
        return [s for s in sessions.resources(jid.userhostJID()) if s.available]

    def sendPresenceOf(self, owner, to):
        """Send the current presence of each of ``owner``'s available resources to ``to``."""
        for session in self.availableSessions(owner.userhostJID()):
            if session.presence is not None:
                copy = copyStanza(session.presence)
                copy["to"] = to
                routeAsServer(self.host, copy)

    def sendUnavailableOf(self, owner, to):
        """Tell ``to`` that each of ``owner``'s available resources is gone for it."""
        for session in self.availableSessions(owner.userhostJID()):
            routeAsServer(self.host, unavailablePresence(session.jid, to))


def _rosterOfView(view):
    return view[1], [rosterItemOf(row) for row in view[2]]


def _contactsOfRows(rows):
    return Contacts([row.contact for row in rows if row.subscriptionFrom],
                    [row.contact for row in rows if row.subscriptionTo])


def unavailablePresence(sender, to=None):
    presence = domish.Element((None, "presence"))
    presence["from"] = sender.full()
    presence["type"] = "unavailable"
    if to is not None:
        presence["to"] = to
    return presence


# The state machine (RFC 6121 Appendix A), pure functions of the stored state ------------


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
