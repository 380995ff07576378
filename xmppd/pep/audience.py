"""
Who may see a PEP node, and who is told when it changes (XEP-0163 §4).

- ``presence`` (the default): the owner and the contacts whose presence
  subscription lets them see the owner's presence (``from``/``both`` in
  the owner's roster), as the roster answers presence's
  ``presence/contacts`` question;
- ``open``: anyone;
- ``whitelist``: the owner and the JIDs it made ``member`` of the node.

A change is sent to every available resource, of the owner and of each
contact allowed to see the node, whose caps carry ``NODE+notify``, and to
the JIDs subscribed explicitly, each once. A contact's resources are its
sessions here, or, for a contact on another server, the resources whose
presence reached the owner (``remote``), as Prosody does: PEP does not stop
at the domain's edge.

A JID the owner blocked (XEP-0191, the ``BLOCKED`` question) sees none of
the owner's nodes, whatever their access model, and is told of no change.
"""

from twisted.internet import defer
from twisted.python import log
from twisted.words.protocols.jabber.jid import JID

from xmppd.api import BLOCKED, PRESENCE_CONTACTS

from xmppd.pep.caps import notifyNodes


class Audience:
    def __init__(self, host, store, caps, remote):
        self.host = host
        self.store = store
        self.caps = caps
        self.remote = remote

    def _hostOf(self, owner):
        return self.host.hostFor(JID(owner).host) or self.host

    def blocked(self, owner, jid):
        """Whether ``owner`` blocked the JID (string) ``jid``."""
        return self._hostOf(owner).events.fire(BLOCKED, owner, JID(jid)) is not None

    def subscribersOf(self, owner):
        """Fire the bare JIDs with a presence subscription to ``owner``."""
        d = defer.maybeDeferred(self._hostOf(owner).events.fire, PRESENCE_CONTACTS, owner, False)

        def failed(reason):
            log.err(reason, "pep: could not read the contacts of %s" % (owner,))
            return None

        d.addErrback(failed)
        d.addCallback(lambda contacts: set() if contacts is None else
                      {JID(c).userhost() for c in contacts.subscribers})
        return d

    def publishersFor(self, account):
        """Fire the local bare JIDs whose presence ``account`` is subscribed to."""
        d = defer.maybeDeferred(self.host.events.fire, PRESENCE_CONTACTS, account, False)
        d.addErrback(lambda reason: None)
        isLocal = self.host.isLocalDomain
        d.addCallback(lambda contacts: [] if contacts is None else sorted(
            {JID(c).userhost() for c in contacts.publishers if isLocal(JID(c).host)}))
        return d

    @defer.inlineCallbacks
    def mayAccess(self, owner, requester, node, config, subscribers=None):
        """Whether the bare JID ``requester`` may see ``owner``'s ``node``."""
        if requester == owner:
            return True
        if self.blocked(owner, requester):
            return False
        model = config.get("access_model", "presence")
        if model == "open":
            return True
        if model == "presence":
            if subscribers is None:
                subscribers = yield self.subscribersOf(owner)
            return requester in subscribers
        if model == "whitelist":
            affiliations = yield self.store.affiliations(owner, node)
            return affiliations.get(requester) == "member"
        return False

    @defer.inlineCallbacks
    def targets(self, owner, node, config):
        """The JIDs (strings) a change of ``owner``'s ``node`` is sent to, in order."""
        subscribers = yield self.subscribersOf(owner)
        members = None
        if config.get("access_model") == "whitelist":
            affiliations = yield self.store.affiliations(owner, node)
            members = {jid for jid, a in affiliations.items() if a == "member"}
        accounts = [owner]
        if config.get("access_model") in ("presence", "open"):
            accounts += sorted(subscribers)
        elif members:
            accounts += sorted(members)
        found = []
        for account in accounts:
            for jid in self.resourcesOf(owner, account):
                if node not in notifyNodes(self.caps.features(jid)):
                    continue
                if account == owner or not self.blocked(owner, jid):
                    found.append(jid)
        reached = {JID(jid).userhost() for jid in found}
        for jid in (yield self.store.subscribers(owner, node)):
            bare = JID(jid).userhost()
            # A bare-JID subscription reaches the resources that got it already.
            if jid in found or (jid == bare and bare in reached):
                continue
            if self.blocked(owner, jid):
                continue
            allowed = yield self.mayAccess(owner, bare, node, config, subscribers)
            if allowed:
                found.append(jid)
        return found

    def resourcesOf(self, owner, account):
        """The available full JIDs of ``account`` that may hear of ``owner``'s nodes."""
        if self.host.isLocalDomain(JID(account).host):
            return [session.jid.full() for session in self.host.sessions.resources(account)
                    if session.available]
        return self.remote.resourcesOf(owner, account)
