"""
Unique and stable stanza ids (XEP-0359) as this server hands them out.

A ``<stanza-id by='user@host'/>`` names a message's place in that user's
archive. Only the archive's server may say so: a client, or another
server, that writes a stanza-id ``by`` one of our JIDs is lying about our
archive, so such elements are removed before anything else sees the
message (§5: "MUST remove ... any <stanza-id/> ... where the by attribute
matches the JID of the entity"). ``origin-id`` is the sender's own and is
kept as it is.
"""

import secrets
import time

from twisted.words.protocols.jabber.jid import JID

NS_SID = "urn:xmpp:sid:0"


def newStanzaId():
    """128 random bits: unguessable, so an id gives nothing about others away."""
    return secrets.token_urlsafe(16)


def _by(child):
    try:
        return JID(child.getAttribute("by", ""))
    except Exception:
        return None


def stripForged(stanza, isLocalDomain):
    """Remove every stanza-id claimed ``by`` a JID of a domain this server serves."""
    kept = []
    stripped = 0
    for child in stanza.children:
        if getattr(child, "name", None) == "stanza-id" and child.uri == NS_SID:
            by = _by(child)
            if by is None or isLocalDomain(by.host):
                stripped += 1
                continue
        kept.append(child)
    if stripped:
        stanza.children = kept
    return stripped


def stanzaIdBy(stanza, by):
    """The id of the stanza-id ``by`` that JID (a string), or None."""
    for child in stanza.elements(NS_SID, "stanza-id"):
        if child.getAttribute("by") == by:
            return child.getAttribute("id")
    return None


def addStanzaId(stanza, by, stanzaId):
    element = stanza.addElement((NS_SID, "stanza-id"))
    element["by"] = by
    element["id"] = stanzaId
    return element


def removeChild(stanza, element):
    stanza.children = [c for c in stanza.children if c is not element]


class ArchiveClock:
    """
    Archive stamps in µs that never repeat nor go back within this process,
    so that an archive's order is the order the server took its messages
    in, even when two arrive within one microsecond or the clock steps back.
    """

    def __init__(self, clock=None):
        self.clock = clock
        self.last = 0

    def seconds(self):
        return self.clock.seconds() if self.clock is not None else time.time()

    def next(self):
        now = int(self.seconds() * 1_000_000)
        self.last = max(now, self.last + 1)
        return self.last

    def watermark(self):
        """
        A stamp that every stamp handed out after this call exceeds (even
        if the clock steps back): what was archived up to now lies at or
        below it.
        """
        self.last = max(int(self.seconds() * 1_000_000), self.last)
        return self.last
