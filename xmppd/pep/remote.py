"""
Contacts on other servers, as PEP sees them (XEP-0163 §4 over s2s, as
Prosody's mod_pep does it): a remote contact's available resource sends
its presence to the account's bare JID, and the caps in it say which of
the account's nodes that resource wants to hear of.

For each local account, the remote full JIDs whose available presence
reached it, with the caps they announced (never None: a resource without
caps wants no notification), until their unavailable presence or an error
arrives. ``LastItems`` keeps only contacts with a
subscription to the account's presence, and at most ``limit`` resources
an account (the oldest news is dropped first), so that a remote server
cannot grow this without bound. Without s2s no remote presence arrives,
and nothing is ever sent to another server.
"""

import collections

from twisted.words.protocols.jabber.jid import JID

MAX_PER_ACCOUNT = 1000


class RemoteResources:
    def __init__(self, limit=MAX_PER_ACCOUNT):
        self.limit = limit
        self._byAccount = {}  # account -> OrderedDict(remote full JID -> caps)
        self._byContact = {}  # account -> {remote bare JID -> {remote full JIDs}}
        self._holders = {}    # remote full JID -> {accounts it is available to}
        self._caps = {}       # remote full JID -> caps of its latest presence

    def available(self, account, jid, caps):
        """
        Note ``jid``'s available presence to ``account``: fire the caps it
        announced to that account before (None if it was not there) and the
        full JIDs now held by no account (dropped over the limit).
        """
        resources = self._byAccount.setdefault(account, collections.OrderedDict())
        previous = resources.pop(jid, None)
        resources[jid] = caps
        self._byContact.setdefault(account, {}).setdefault(JID(jid).userhost(), set()).add(jid)
        self._holders.setdefault(jid, set()).add(account)
        self._caps[jid] = caps
        dropped = []
        while len(resources) > self.limit:
            oldest = next(iter(resources))
            if self.unavailable(account, oldest):
                dropped.append(oldest)
        return previous, dropped

    def unavailable(self, account, jid):
        """Forget ``jid`` for ``account``; True when no account holds it any more."""
        resources = self._byAccount.get(account)
        if resources is None or jid not in resources:
            return False
        del resources[jid]
        if not resources:
            del self._byAccount[account]
        contacts = self._byContact[account]
        bare = JID(jid).userhost()
        contacts[bare].discard(jid)
        if not contacts[bare]:
            del contacts[bare]
        if not contacts:
            del self._byContact[account]
        holders = self._holders[jid]
        holders.discard(account)
        if holders:
            return False
        del self._holders[jid]
        del self._caps[jid]
        return True

    def capsFor(self, account, jid):
        """The caps ``jid`` announced to ``account``, or None if it is not available to it."""
        return self._byAccount.get(account, {}).get(jid)

    def capsOf(self, jid):
        """The caps of ``jid``'s latest available presence to any account, or None."""
        return self._caps.get(jid)

    def resourcesOf(self, account, contact):
        """The full JIDs of the remote bare JID ``contact`` available to ``account``."""
        return sorted(self._byContact.get(account, {}).get(contact, ()))
