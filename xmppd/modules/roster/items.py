"""
The roster IQ (RFC 6121 §2) and roster versioning (XEP-0237).

A roster get marks the resource *interested* (it gets roster pushes from
now on) and fires ``roster-requested``; a client that sends the version it
has cached gets an empty result when nothing changed. A roster set adds or
updates one item (name and groups only: subscription states belong to the
subscription handshake), or removes it, which also cancels both
subscription directions (§2.5.2). Every change is pushed, with the new
version, to every interested resource, then answered.

Roster IQs and the account's presence share its lane of
``host.rosters.lanes``, so that a client's roster get and initial presence
are answered in that order.
"""

from twisted.internet import defer
from twisted.python import log
from twisted.python.failure import Failure
from twisted.words.protocols.jabber.error import StanzaError
from twisted.words.protocols.jabber.jid import JID
from twisted.words.protocols.jabber.xmlstream import toResponse
from twisted.words.xish import domish
from wokkel.subprotocols import XMPPHandler
from wokkel.xmppim import NS_ROSTER, RosterItem, RosterRequest

from xmppd.api import (PRESENCE_CONTACTS, RESOURCE_UNBOUND, ROSTER_CHANGED, ROSTER_REQUESTED,
                       RosterFull, routeAsServer)

from xmppd.modules.roster.subscriptions import presenceStanza

NS_ROSTER_VER = "urn:xmpp:features:rosterver"
NS_PRE_APPROVAL = "urn:xmpp:features:pre-approval"
ROSTER_GET = "/iq[@type='get']/query[@xmlns='%s']" % NS_ROSTER
ROSTER_SET = "/iq[@type='set']/query[@xmlns='%s']" % NS_ROSTER
# The answer's query for an empty roster without versioning, as written.
EMPTY_ROSTER = "<query xmlns='%s'/>" % NS_ROSTER


class RosterHandler(XMPPHandler):
    def __init__(self, host, options):
        XMPPHandler.__init__(self)
        self.host = host
        self.maxItems = options.max_roster_size
        self.maxNameLength = options.max_name_length
        self.maxGroupLength = options.max_group_length
        self.maxGroupsPerItem = options.max_groups_per_item
        self.rosters = host.rosters
        # Sessions that sent a ``ver``: XEP-0237 versions go only to them.
        self.versioned = set()
        host.addStreamFeature(domish.Element((NS_ROSTER_VER, "ver")))
        host.addStreamFeature(domish.Element((NS_PRE_APPROVAL, "sub")))
        host.addDiscoFeature(NS_ROSTER)

    def connectionInitialized(self):
        self.xmlstream.addObserver(ROSTER_GET, self.onRosterIQ, 10, handler=self.rosterGet)
        self.xmlstream.addObserver(ROSTER_SET, self.onRosterIQ, 10, handler=self.rosterSet)
        self.host.events.hook(PRESENCE_CONTACTS, self.rosters.contacts)
        self.host.events.hook(RESOURCE_UNBOUND, self.versioned.discard)

    def connectionLost(self, reason):
        self.host.events.unhook(PRESENCE_CONTACTS, self.rosters.contacts)
        self.host.events.unhook(RESOURCE_UNBOUND, self.versioned.discard)
        XMPPHandler.connectionLost(self, reason)

    def onRosterIQ(self, iq, handler):
        # The element's fields read once (domish's __getattr__ makes each
        # attribute read of an element a slow one).
        fields = iq.__dict__
        if fields.get("handled"):
            return
        fields["handled"] = True
        attributes = fields["attributes"]
        sessions = self.host.sessions
        sender = attributes["from"]
        # The stamp of a local session, nearly always: no JID parsed.
        session = sessions.sessionFor(sender) or sessions.get(JID(sender))
        if session is None:
            return
        to = attributes["to"]
        if to != session.bareJID.full() and JID(to) != session.bareJID:
            # §2.1.5: a roster is its owner's business only.
            return session.send(StanzaError("forbidden").toResponse(iq))
        # At once on an idle lane: a get the kept roster answers costs no
        # Deferred.
        outcome = self.rosters.lanes.runNow(session.bareJID.full(), handler, iq, session)
        if isinstance(outcome, defer.Deferred):
            outcome.addErrback(self.failed, iq, session)
        elif isinstance(outcome, Failure):
            self.failed(outcome, iq, session)

    def failed(self, reason, iq, session):
        if reason.check(StanzaError):
            return session.send(reason.value.toResponse(iq))
        log.err(reason, "roster request failed")
        session.send(StanzaError("internal-server-error", "wait").toResponse(iq))

    # Get ---------------------------------------------------------------------

    def rosterGet(self, iq, session):
        cached = _requestedVersion(iq)
        owner = session.bareJID.full()
        kept = self.rosters.keptRoster(owner)
        if kept is None:
            return self.rosters.getRoster(owner).addCallback(
                self.answerGet, iq, session, cached)
        self.answerGet(kept, iq, session, cached)

    def answerGet(self, roster, iq, session, cached):
        version, items = roster
        if cached is not None:
            self.versioned.add(session)
        query = None
        if cached is None or cached != str(version):
            if not items and cached is None:
                query = EMPTY_ROSTER
            else:
                query = domish.Element((NS_ROSTER, "query"))
                if cached is not None:
                    query["ver"] = str(version)
                for item in items:
                    query.addChild(itemElement(item.toElement()))
        session.rosterRequested = True
        session.sendResult(iq, query)
        events = self.host.events
        if ROSTER_REQUESTED in events.handlers:
            events.fire(ROSTER_REQUESTED, session)

    # Set and remove ---------------------------------------------------------------

    @defer.inlineCallbacks
    def rosterSet(self, iq, session):
        item, groups = self.parseSet(iq)
        owner, contact = session.bareJID.full(), item.entity.full()
        if item.remove:
            yield self.remove(owner, contact)
        else:
            try:
                change = yield self.rosters.setItem(owner, contact, item.name, groups,
                                                    self.maxItems)
            except RosterFull:
                raise StanzaError("not-allowed", text="The roster is full (at most %d items)"
                                  % self.maxItems)
            if change.itemChanged:
                self.push(session.bareJID, change.after.item, change.version)
        session.send(toResponse(iq, "result"))

    def parseSet(self, iq):
        """The one item of a roster set and its groups in order, or the §2.3.3 error."""
        query = iq.query
        elements = list(query.elements(NS_ROSTER, "item"))
        if len(elements) != 1:
            raise StanzaError("bad-request", text="A roster set carries exactly one item")
        element = elements[0]
        # Only the server sets a subscription: any value but 'remove' is
        # ignored (RFC 6121 §2.1.2.5), as slixmpp's update_roster sends
        # the item's current one.
        try:
            item = RosterRequest.fromElement(iq).item
        except Exception:
            raise StanzaError("bad-request", text="The item needs a valid 'jid'")
        groups = tuple(str(g) for g in element.elements(NS_ROSTER, "group"))
        if len(set(groups)) != len(groups):
            raise StanzaError("bad-request", text="An item lists each group once")
        if len(item.name) > self.maxNameLength:
            raise StanzaError("not-acceptable", text="The name is longer than %d characters"
                              % self.maxNameLength)
        if len(groups) > self.maxGroupsPerItem:
            raise StanzaError("not-acceptable", text="An item is in at most %d groups"
                              % self.maxGroupsPerItem)
        for group in groups:
            if not group:
                raise StanzaError("not-acceptable", text="A group needs a name")
            if len(group) > self.maxGroupLength:
                raise StanzaError("not-acceptable", text="A group name is longer than %d"
                                  " characters" % self.maxGroupLength)
        return item, groups

    @defer.inlineCallbacks
    def remove(self, owner, contact):
        """§2.5.2: removing a contact cancels both directions of subscription."""
        change = yield self.rosters.removeItem(owner, contact)
        old = change.before
        if old.item is None:
            raise StanzaError("item-not-found")
        ownerJID = JID(owner)
        if old.item.subscriptionTo or old.item.pendingOut:
            routeAsServer(self.host, presenceStanza("unsubscribe", owner, contact))
        if old.item.subscriptionFrom or old.pendingIn is not None:
            if old.item.subscriptionFrom:
                self.rosters.sendUnavailableOf(ownerJID, contact)
            routeAsServer(self.host, presenceStanza("unsubscribed", owner, contact))
        self.push(ownerJID, None, change.version, removed=contact)

    # Pushes --------------------------------------------------------------------

    def push(self, owner, item, version, removed=None):
        """§2.1.6: send a changed (or removed) item to every interested resource."""
        # Every roster change passes here: modules that mirror rosters (MAM's
        # "roster" preference) follow it with (owner, contact, removed).
        self.host.events.fire(ROSTER_CHANGED, owner,
                              removed if item is None else item.entity.full(), item is None)
        if item is None:
            item = RosterItem(JID(removed))
            item.remove = True
        for session in self.host.sessions.resources(owner):
            if not session.rosterRequested:
                continue
            request = RosterRequest(recipient=session.jid, sender=owner, stanzaType="set")
            request.item = item
            if session in self.versioned:
                request.version = str(version)
            element = request.toElement()
            for child in element.query.elements(NS_ROSTER, "item"):
                itemElement(child)
            session.send(element)


def _requestedVersion(iq):
    """
    XEP-0237's ``ver`` of a roster get, or None: all a get says. Wokkel's
    RosterRequest.fromElement read it by parsing the whole stanza (its
    addresses, every child, the class's parsers gathered by reflection).
    """
    for child in iq.elements(NS_ROSTER, "query"):
        return child.attributes.get("ver")
    return None


def itemElement(element):
    """
    A roster item as sent, its subscription always said: RFC 6121 §2.1.2.5
    lets "none" go unsaid, but clients (slixmpp) drop an item pushed
    without it, and Prosody and ejabberd always say it.
    """
    if element.getAttribute("subscription") is None:
        element["subscription"] = "none"
    return element
