"""
Presence (RFC 6121 §4): availability of local resources, broadcast to the
contacts the roster names, probes, directed presence, and the events other
modules wait for.

The story of one resource:

1. Its first broadcast presence (no ``to``, no ``type``) is *initial
   presence*: the resource becomes available, the presence is reflected to
   every available resource of the account (itself included), sent to the
   contacts subscribed to it (``from``/``both``), the current presence of
   the contacts it is subscribed to (``to``/``both``) is written to it —
   local ones directly, remote ones probed —, then the subscription
   requests still waiting for an answer (§3.1.3), and only then
   ``resource-available`` fires: the SPEC §3 wire order, roster result →
   own presence → contacts' presence → offline messages.
2. Later broadcasts are presence updates: reflected and sent to the same
   contacts; a changed priority fires ``priority-changed``.
3. ``unavailable``, or its stream closing without one (a dropped TCP
   connection included), makes it unavailable: reflected, sent to the
   subscribed contacts and to everyone it sent directed presence to.

Which contacts are which is the roster's business: this module asks with
the ``presence/contacts`` event (owner bare JID, initial) and gets a
``Contacts`` (or nothing when no roster module is enabled: then presence is
only reflected).

Everything that touches one account's roster or presence state — roster
IQs, its outbound presence, presence and subscriptions addressed to it —
runs through the account's lane of ``host.rosters.lanes`` in arrival
order, so that a roster get followed by initial presence answers in that
order although both wait on the database, and so that an inbound
``subscribed`` and the presence that follows it reach the client in the
order they were sent.

Events fired on the host:

- ``resource-available`` (session): after everything of step 1 was written.
- ``priority-changed`` (session, oldPriority).
- ``presence-updated`` (session): after a later broadcast presence of an
  available resource was sent (its caps may have changed).
- ``resource-unavailable`` (session): at once when the resource stops being
  available, before contacts are told.
- ``presence/directed`` (session, stanza) and ``presence/inbound``
  (stanza): observers; a handler returning non-None takes the stanza.
"""

from twisted.internet import defer
from twisted.python import failure, log
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish
from wokkel.subprotocols import XMPPHandler

from xmppd.api import (
    AVAILABLE_BROADCAST, PRESENCE_CONTACTS, PRESENCE_DIRECTED, PRESENCE_INBOUND,
    PRESENCE_UPDATED, PRIORITY_CHANGED, RESOURCE_AVAILABLE, RESOURCE_UNAVAILABLE,
    RESOURCE_UNBOUND, SUBSCRIPTION_TYPES, Contacts, copyStanza, outboundSession,
    parsePriority, routeAsServer, unavailablePresence)



class PresenceHandler(XMPPHandler):
    def __init__(self, host):
        XMPPHandler.__init__(self)
        self.host = host
        self.rosters = host.rosters

    def connectionInitialized(self):
        self.xmlstream.addObserver("/presence", self.onPresence, 0)
        self.host.events.hook(RESOURCE_UNBOUND, self.onResourceUnbound)

    def connectionLost(self, reason):
        self.host.events.unhook(RESOURCE_UNBOUND, self.onResourceUnbound)
        XMPPHandler.connectionLost(self, reason)

    def onPresence(self, presence):
        if getattr(presence, "handled", False):
            return
        presence.handled = True
        session = outboundSession(self.host, presence)
        if session is not None:
            self.outbound(session, presence)
        else:
            self.inbound(presence)

    # What a local resource sends -------------------------------------------

    def outbound(self, session, presence):
        kind = presence.getAttribute("type")
        account = session.bareJID.full()
        if presence.getAttribute("to") is None:
            if kind is None:
                self.inQueue(account, self.broadcastAvailable, session, presence)
            elif kind == "unavailable":
                self.inQueue(account, self.broadcastUnavailable, session, presence)
            return
        if kind in (None, "unavailable"):
            # Queued too, so that it cannot overtake the account's earlier
            # subscription answer on its way to the same contact.
            return self.inQueue(account, self.directed, session, presence)
        if kind == "probe" or kind in SUBSCRIPTION_TYPES:
            # §4.3.1, §3.1.2: these speak for the account, not one resource.
            presence["from"] = account
        routeAsServer(self.host, presence)

    def directed(self, session, presence):
        """§4.6: remember whom to tell when this resource goes unavailable."""
        if presence.getAttribute("type") is None:
            session.directedPresence.add(presence["to"])
        else:
            session.directedPresence.discard(presence["to"])
        if self.host.events.fire(PRESENCE_DIRECTED, session, presence) is not None:
            return
        routeAsServer(self.host, presence)

    def broadcastAvailable(self, session, presence):
        initial = not session.available
        contacts = self.contacts(session.bareJID.full(), initial)
        if isinstance(contacts, defer.Deferred):
            return contacts.addCallback(self._broadcastAvailable, session, presence, initial)
        self._broadcastAvailable(contacts, session, presence, initial)

    def _broadcastAvailable(self, contacts, session, presence, initial):
        if session.closed:
            return
        oldPriority = session.priority
        session.available = True
        session.priority = parsePriority(presence)
        # Modules may add to the presence all will see (vCard avatar hashes).
        self.host.events.fire(AVAILABLE_BROADCAST, session, presence)
        session.presence = presence
        self.reflect(session, presence)
        for contact in contacts.subscribers:
            self.sendCopy(presence, contact)
        if not initial:
            if oldPriority != session.priority:
                self.host.events.fire(PRIORITY_CHANGED, session, oldPriority)
            self.host.events.fire(PRESENCE_UPDATED, session)
            return
        self.showContactsTo(session, contacts.publishers)
        for request in contacts.pendingRequests:
            session.send(request)
        self.host.events.fire(RESOURCE_AVAILABLE, session)

    def showContactsTo(self, session, publishers):
        """§4.2.2: local contacts answer at once, remote ones are probed."""
        # The account's other resources first: one is always one's own contact.
        for other in self.rosters.availableSessions(session.bareJID):
            if other is not session and other.presence is not None:
                copy = copyStanza(other.presence)
                copy["to"] = session.jid.full()
                session.send(copy)
        for contact in publishers:
            jid = JID(contact)
            if jid.userhostJID() == session.bareJID:
                continue
            if not self.host.isLocalDomain(jid.host):
                probe = domish.Element((None, "presence"))
                probe["type"] = "probe"
                probe["from"] = session.bareJID.full()
                probe["to"] = contact
                routeAsServer(self.host, probe)
                continue
            for other in self.rosters.availableSessions(jid):
                if other.available and other.presence is not None:
                    copy = copyStanza(other.presence)
                    copy["to"] = session.jid.full()
                    session.send(copy)

    def broadcastUnavailable(self, session, presence):
        directed = self.markUnavailable(session, presence)
        if directed is not None:
            return self.tellContactsUnavailable(session, presence, directed)

    def onResourceUnbound(self, session):
        """A closed or dropped stream: unavailable without a closing stanza."""
        presence = unavailablePresence(session.jid)
        directed = self.markUnavailable(session, presence)
        if directed is not None:
            self.inQueue(session.bareJID.full(), self.tellContactsUnavailable,
                         session, presence, directed)

    def markUnavailable(self, session, presence):
        """Flip the state now and return the directed-presence targets, or None."""
        if not session.available:
            return None
        self.reflect(session, presence)
        session.available = False
        session.presence = None
        directed = sorted(session.directedPresence)
        session.directedPresence.clear()
        self.host.events.fire(RESOURCE_UNAVAILABLE, session)
        return directed

    def tellContactsUnavailable(self, session, presence, directed):
        contacts = self.contacts(session.bareJID.full(), False)
        if isinstance(contacts, defer.Deferred):
            return contacts.addCallback(self._tellContactsUnavailable, presence, directed)
        self._tellContactsUnavailable(contacts, presence, directed)

    def _tellContactsUnavailable(self, contacts, presence, directed):
        told = set()
        for contact in contacts.subscribers:
            self.sendCopy(presence, contact)
            told.add(contact)
        for target in directed:
            if target not in told and JID(target).userhost() not in told:
                self.sendCopy(presence, target)

    def reflect(self, session, presence):
        """Send a resource's presence to every available resource of its account."""
        for other in self.host.sessions.resources(session.bareJID):
            if other.available or other is session:
                copy = copyStanza(presence)
                copy["to"] = other.jid.full()
                other.send(copy)

    def sendCopy(self, presence, to):
        copy = copyStanza(presence)
        copy["to"] = to
        routeAsServer(self.host, copy)

    # What arrives for a local account ----------------------------------------

    def inbound(self, presence):
        to = presence.getAttribute("to")
        if not to or not presence.getAttribute("from"):
            return
        to = JID(to)
        if not to.user:
            return
        if self.host.events.fire(PRESENCE_INBOUND, presence) is not None:
            return
        self.inQueue(to.userhost(), self.deliverInbound, presence, to)

    def deliverInbound(self, presence, to):
        if presence.getAttribute("type") == "probe":
            return self.answerProbe(presence, to)
        # RFC 6121 §8.5.2.1.3, §8.5.3.2.3: every available resource, whatever
        # its priority; to a resource that is gone, nothing.
        for session in self.rosters.availableSessions(to):
            session.send(presence)

    @defer.inlineCallbacks
    def answerProbe(self, probe, to):
        """§4.3.2: only a subscriber learns the presence; others get nothing."""
        prober = JID(probe["from"]).userhost()
        contacts = yield self.contacts(to.userhost(), False)
        allowed = {JID(c).userhost() for c in contacts.subscribers} | {to.userhost()}
        if prober not in allowed:
            return
        for session in self.rosters.availableSessions(to):
            if session.available and session.presence is not None:
                copy = copyStanza(session.presence)
                copy["to"] = probe["from"]
                routeAsServer(self.host, copy)

    # Helpers -------------------------------------------------------------------

    def inQueue(self, account, fn, *args):
        """
        ``fn(*args)`` in the account's lane; at once on an idle lane, so
        that a job the kept roster answers costs no Deferred.
        """
        outcome = self.rosters.lanes.runNow(account, fn, *args)
        if isinstance(outcome, defer.Deferred):
            outcome.addErrback(log.err, "presence handling for %s failed" % (account,))
        elif isinstance(outcome, failure.Failure):
            log.err(outcome, "presence handling for %s failed" % (account,))
        return outcome

    def contacts(self, owner, initial):
        """
        The roster's Contacts of ``owner``, or a Deferred firing them when
        the roster module has to read them first.
        """
        contacts = self.host.events.fire(PRESENCE_CONTACTS, owner, initial)
        if contacts is None:
            return Contacts()
        if not isinstance(contacts, defer.Deferred):
            return contacts

        def failed(reason):
            # Better available without contacts than never available at all.
            log.err(reason, "could not read the contacts of %s" % (owner,))
            return None

        contacts.addErrback(failed)
        contacts.addCallback(lambda found: found if found is not None else Contacts())
        return contacts
