"""
Archiving preferences (XEP-0313 §6), kept in memory and written through.

Whether a message is archived is decided at the moment routing acts on it,
which waits on nothing, so every user's preferences are in memory (loaded
at start, like blocklists) and, for users whose default is ``roster``, the
set of JIDs on their roster, kept current by the roster's changes.
"""

from twisted.python import log
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

NS_MAM = "urn:xmpp:mam:2"
MODES = ("always", "never", "roster")


class Prefs:
    def __init__(self, default, always=(), never=()):
        self.default = default
        self.always = set(always)
        self.never = set(never)

    def toElement(self):
        element = domish.Element((NS_MAM, "prefs"))
        element["default"] = self.default
        for name, jids in (("always", self.always), ("never", self.never)):
            listElement = element.addElement(name)
            for jid in sorted(jids):
                listElement.addElement("jid", content=jid)
        return element


def parsePrefs(element):
    """A ``<prefs/>`` set request; ValueError names what is wrong."""
    default = element.getAttribute("default")
    if default not in MODES:
        raise ValueError("default must be one of always, never, roster")
    lists = {"always": set(), "never": set()}
    for child in element.elements():
        if child.name not in lists:
            continue
        for item in child.elements():
            if item.name != "jid":
                continue
            try:
                jid = JID(str(item).strip())
            except Exception:
                raise ValueError("%r is not a JID" % (str(item),))
            lists[child.name].add(jid.full())
    if len(lists["always"]) + len(lists["never"]) > 1000:
        raise ValueError("at most 1000 JIDs in <always/> and <never/>")
    # A JID in both lists is never archived (XEP-0313 leaves it open; the
    # user who named it in <never/> asked for privacy).
    lists["always"] -= lists["never"]
    return Prefs(default, lists["always"], lists["never"])


class PrefsRegistry:
    def __init__(self, host, defaultMode):
        self.host = host
        self.defaultMode = defaultMode
        self.prefs = {}
        self.rosters = {}

    @property
    def store(self):
        return self.host.storage.mam

    def load(self):
        d = self.store.allPrefs()
        d.addCallback(self._loaded)
        d.addErrback(log.err, "could not load the MAM preferences")
        return d

    def _loaded(self, allPrefs):
        domain = "@" + self.host.domain
        for owner, (default, always, never) in allPrefs.items():
            if owner.endswith(domain):
                self.prefs[owner] = Prefs(default, always, never)
        for owner in list(self.prefs):
            self._watchRoster(owner)

    def get(self, owner):
        return self.prefs.get(owner) or Prefs(self.defaultMode)

    def set(self, owner, prefs):
        d = self.store.setPrefs(owner, prefs.default, prefs.always, prefs.never)

        def stored(_):
            self.prefs[owner] = prefs
            self._watchRoster(owner)
        d.addCallback(stored)
        return d

    def forget(self, owner):
        """The account was deleted, its stored preferences with it."""
        self.prefs.pop(owner, None)
        self.rosters.pop(owner, None)

    def allows(self, owner, contact):
        """Whether a message between ``owner`` and ``contact`` (a JID) is archived."""
        prefs = self.get(owner)
        bare = contact.userhost()
        for jid in (contact.full(), bare):
            if jid in prefs.never:
                return False
        for jid in (contact.full(), bare):
            if jid in prefs.always:
                return True
        if prefs.default == "always":
            return True
        if prefs.default == "never":
            return False
        return bare in self.rosters.get(owner, ())

    # The roster of users whose default is "roster" ----------------------------------

    def _watchRoster(self, owner):
        if self.get(owner).default != "roster":
            self.rosters.pop(owner, None)
            return
        roster = getattr(self.host.storage, "roster", None)
        if roster is None:
            return
        d = roster.getRoster(owner)

        def loaded(result):
            _version, rows = result
            if self.get(owner).default == "roster":
                self.rosters[owner] = {JID(row.contact).userhost() for row in rows}
        d.addCallback(loaded)
        d.addErrback(log.err, "could not load %s's roster for MAM" % owner)

    def onRosterChanged(self, owner, contact, removed):
        contacts = self.rosters.get(owner.userhost() if isinstance(owner, JID) else owner)
        if contacts is None:
            return None
        if removed:
            contacts.discard(JID(contact).userhost())
        else:
            contacts.add(JID(contact).userhost())
        return None
