"""
What goes into the archives, and when (XEP-0313 §5, XEP-0359, XEP-0334).

A message is archived for each local party to it:

- for its **recipient**, at the moment routing acts on it: delivered now
  (``message/route``, before carbons copy it), or taken by offline storage
  (``message/offline`` above AMP, so that the id is in the stanza before
  it is serialised). An offline message's row is written by the queue that
  stores it when that is the archive's own (``xmppd.mam.queue``: one
  transaction, and the queue keeps a reference, not a copy), or once
  ``offline/stored`` says it was stored otherwise. A message that bounces,
  or that AMP drops, is not archived;
- for its **sender**, when the client sends it (``client/outbound``, after
  blocking refused what it refuses, before carbons copy it).

Archived are chat and normal messages with a body (§5), or with the
XEP-0334 ``<store/>`` hint; never errors, headlines, groupchat, nor a
message with ``<no-store/>`` or ``<no-permanent-store/>`` (which offline
storage still keeps), nor a correspondent the owner's preferences exclude.
Each archived copy carries ``<stanza-id by='owner' id=…/>``: the recipient's
id is on the live copy, the offline copy, the carbons and the archived
copy alike; the sender's is on the sent carbon and the archived copy, and
is taken off again before the message leaves (it is no business of the
recipient's).

The rows are written behind the message, not in its way: per owner in
order, in batches, by ``ArchiveWriter``; a query first waits for the
owner's writes, so that it sees every message routed before it.
"""

from twisted.internet import defer
from twisted.python import log
from twisted.words.protocols.jabber.jid import JID

from xmppd.api import DELIVER, IOfflineService, annotate, annotation

from xmppd.mam.stanzaids import (
    ArchiveClock,
    addStanzaId,
    newStanzaId,
    removeChild,
    stanzaIdBy,
    stripForged,
)

NS_HINTS = "urn:xmpp:hints"
NS_CLIENT = "jabber:client"
# A writer this far behind for one owner stops archiving for it (and logs):
# the messages themselves are delivered all the same.
MAX_PENDING = 10_000
# The annotation on a message offline storage is about to store.
ARCHIVING = "mam/archiving"


def archivable(message):
    kind = message.getAttribute("type", "normal")
    if kind not in ("chat", "normal"):
        return False
    hints = {child.name for child in message.elements() if child.uri == NS_HINTS}
    if "no-store" in hints or "no-permanent-store" in hints:
        return False
    if "store" in hints:
        return True
    for child in message.elements():
        if child.name == "body" and child.uri == NS_CLIENT and str(child).strip():
            return True
    return False


def _jid(text):
    if isinstance(text, JID):
        return text
    try:
        return JID(text) if text else None
    except Exception:
        return None


class OfflineArchiving:
    """
    The archive row of a message that offline storage is about to store,
    noted on the stanza (``ARCHIVING``). The archive's queue writes it in
    the transaction that stores the message (``row``, ``track``,
    ``stored``); when another queue stored it, the archiver writes it on
    ``offline/stored``. Either way exactly once, and never for a message
    that was not stored.
    """

    def __init__(self, archiver, owner, contact, stanzaId):
        self.archiver = archiver
        self.owner = owner
        self.contact = contact
        self.stanzaId = stanzaId
        self.written = False

    def row(self, stanza):
        """The row, stamped now: in the archive's order from this moment on."""
        return (self.owner, self.stanzaId, self.archiver.clock.next(),
                self.contact.userhost(), self.contact.resource or "", stanza.toXml())

    def track(self, d):
        """A query of the owner's archive waits for the transaction ``d``."""
        self.archiver.writer.track(self.owner, d)

    def stored(self, result):
        self.written = True
        return result


class ArchiveWriter:
    """
    Each owner's rows in the order given, one transaction per batch; and
    the owner's rows written elsewhere (the archive's offline queue) that
    a query must wait for all the same.
    """

    def __init__(self, store):
        self.store = store
        self.pending = {}
        self.writing = {}
        self.elsewhere = {}
        self.waiters = {}

    def write(self, row):
        owner = row[0]
        queue = self.pending.setdefault(owner, [])
        if len(queue) >= MAX_PENDING:
            log.msg("MAM: %s's archive is %d writes behind; not archiving %s"
                    % (owner, len(queue), row[1]))
            return
        queue.append(row)
        if owner not in self.writing:
            self._flush(owner)

    def _flush(self, owner):
        rows = self.pending.pop(owner)
        d = self.writing[owner] = self.store.append(rows)
        d.addErrback(log.err, "archiving %d messages of %s failed" % (len(rows), owner))
        d.addBoth(self._written, owner)

    def _written(self, _, owner):
        del self.writing[owner]
        if owner in self.pending:
            self._flush(owner)
            return
        self._settle(owner)

    def track(self, owner, d):
        """``d`` writes a row of ``owner``'s in a transaction of its own."""
        self.elsewhere[owner] = self.elsewhere.get(owner, 0) + 1
        d.addBoth(self._writtenElsewhere, owner)

    def _writtenElsewhere(self, result, owner):
        self.elsewhere[owner] -= 1
        if not self.elsewhere[owner]:
            del self.elsewhere[owner]
            self._settle(owner)
        return result

    def _settle(self, owner):
        if owner in self.writing or owner in self.pending or owner in self.elsewhere:
            return
        for waiter in self.waiters.pop(owner, []):
            waiter.callback(None)

    def settled(self, owner):
        """Fires once every row given for ``owner`` so far is written (or failed)."""
        if (owner not in self.writing and owner not in self.pending
                and owner not in self.elsewhere):
            return defer.succeed(None)
        waiter = defer.Deferred()
        self.waiters.setdefault(owner, []).append(waiter)
        return waiter


class Archiver:
    """The hooks that decide, stamp and archive."""

    def __init__(self, host, prefs, clock=None):
        self.host = host
        self.prefs = prefs
        self.clock = ArchiveClock(clock)
        self.writer = ArchiveWriter(host.storage.mam)

    def _archive(self, owner, message, contact):
        """Stamp the message with ``owner``'s id and queue its row; return the element."""
        stanzaId = newStanzaId()
        element = addStanzaId(message, owner, stanzaId)
        self._write(owner, message, contact, stanzaId)
        return element

    def _write(self, owner, message, contact, stanzaId):
        self.writer.write((owner, stanzaId, self.clock.next(), contact.userhost(),
                           contact.resource or "", message.toXml()))

    def _decide(self, owner, message, contact):
        if contact is None or not archivable(message):
            return False
        return self.prefs.allows(owner, contact)

    # The recipient's copy -------------------------------------------------------------

    def onInbound(self, message):
        # Whatever the message carries "by" us was not written by us.
        stripForged(message, self.host.isLocalDomain)
        return None

    def onRoute(self, message, routing):
        if routing.verdict != DELIVER:
            return None
        owner = _jid(message.getAttribute("to"))
        if owner is None or owner.host != self.host.domain or not owner.user:
            return None
        owner = owner.userhost()
        if stanzaIdBy(message, owner) is not None:
            # Archived when it was first routed (a departed session's leftovers).
            return None
        contact = _jid(message.getAttribute("from"))
        if self._decide(owner, message, contact):
            self._archive(owner, message, contact)
        return None

    def onOffline(self, offlineMessage):
        message = offlineMessage.stanza
        owner = _jid(offlineMessage.recipient)
        if owner is None:
            return None
        owner = owner.userhost()
        if stanzaIdBy(message, owner) is not None:
            return None
        contact = _jid(message.getAttribute("from"))
        if not self._decide(owner, message, contact):
            return None
        offline = self.host.optionalService(IOfflineService)
        if offline is not None and not offline.enabled:
            if getattr(offline, "stub", False):
                # The stub drops what "an archive keeps" (SPEC §2 rule 2).
                self._archive(owner, message, contact)
            return None
        # The id goes into the stored copy now; the row when it is stored.
        stanzaId = newStanzaId()
        addStanzaId(message, owner, stanzaId)
        annotate(message, ARCHIVING, OfflineArchiving(self, owner, contact, stanzaId))
        return None

    def onOfflineStored(self, offlineMessage, rowId):
        archiving = annotation(offlineMessage.stanza, ARCHIVING)
        if archiving is None or archiving.written:
            # Not archived, or written by the archive's queue with the message.
            return None
        archiving.written = True
        self._write(archiving.owner, offlineMessage.stanza, archiving.contact,
                    archiving.stanzaId)
        return None

    # The sender's copy ----------------------------------------------------------------

    def onOutbound(self, session, stanza):
        if stanza.name != "message":
            return None
        stripForged(stanza, self.host.isLocalDomain)
        owner = session.bareJID.userhost()
        contact = _jid(stanza.getAttribute("to"))
        if self._decide(owner, stanza, contact):
            stanza.mamSentId = self._archive(owner, stanza, contact)
        return None

    def afterOutbound(self, session, stanza):
        """After carbons: the sender's id stays out of what the recipient gets."""
        element = getattr(stanza, "mamSentId", None)
        if element is not None:
            del stanza.mamSentId
            removeChild(stanza, element)
        return None

    # Retention -------------------------------------------------------------------------

    def sweep(self, maxAge, now=None):
        """Delete this host's rows archived longer than ``maxAge`` seconds ago."""
        if now is None:
            now = int(self.clock.seconds() * 1_000_000)
        return self.host.storage.mam.purgeOlderThan(now - int(maxAge * 1_000_000))
