"""
Message Archive Management (XEP-0313, ``urn:xmpp:mam:2`` and ``#extended``)
on a host: every user's archive of one-to-one messages, which any of the
user's devices pages through, whenever it likes.

1. ``xmppd.mam.archive`` decides what is archived and stamps it with a
   XEP-0359 stanza-id, where routing and offline storage act;
2. this handler answers the user's queries, preferences and metadata
   requests, and advertises the features on the user's bare JID;
3. with ``offline_in_archive`` the offline queue is the archive's own
   (``xmppd.mam.queue``, provided as the host's IOfflineQueue): a message
   to an offline user is archived and queued in one transaction, and the
   queue row refers to the archive row instead of holding a copy;
4. a client that queries the archive before its initial presence syncs
   through MAM: at that presence the offline messages it could read in the
   archive are taken off the offline queue instead of being sent again
   (Prosody's and ejabberd's signal; see docs/operators.md);
5. a periodic sweep deletes what is older than ``max_age``.
"""

from twisted.internet import defer, task
from twisted.python import log
from twisted.words.protocols.jabber.error import StanzaError
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish
from wokkel import disco
from wokkel.generic import parseXml
from wokkel.iwokkel import IDisco
from wokkel.subprotocols import IQHandlerMixin, XMPPHandler
from zope.interface import implementer

from xmppd.api import (
    ACCOUNT_DELETED, CLIENT_OUTBOUND, IOfflineQueue, IOfflineService, MESSAGE_INBOUND,
    MESSAGE_OFFLINE, MESSAGE_ROUTE, OFFLINE_STORED, RESOURCE_AVAILABLE, ROSTER_CHANGED)

from xmppd.mam.archive import Archiver
from xmppd.mam.prefs import PrefsRegistry, parsePrefs
from xmppd.mam.query import (
    NS_MAM,
    NS_MAM_EXTENDED,
    fieldsForm,
    finElement,
    formatStamp,
    parseQuery,
    resultMessage,
)
from xmppd.mam.stanzaids import NS_SID, stanzaIdBy
from xmppd.mam.store import ArchiveItemNotFound

QUERY_SET = "/iq[@type='set']/query[@xmlns='%s']" % NS_MAM
QUERY_GET = "/iq[@type='get']/query[@xmlns='%s']" % NS_MAM
PREFS_GET = "/iq[@type='get']/prefs[@xmlns='%s']" % NS_MAM
PREFS_SET = "/iq[@type='set']/prefs[@xmlns='%s']" % NS_MAM
METADATA = "/iq[@type='get']/metadata[@xmlns='%s']" % NS_MAM
# Routing: after AMP (10), which may take the message, before carbons (-10),
# which copy it with its id. Offline: above AMP, so that the id is in the
# stanza whoever stores it. Outbound: after blocking (20), before carbons;
# the sender's id comes off again after carbons.
ROUTE_PRIORITY = 5
OFFLINE_PRIORITY = 15
OUTBOUND_PRIORITY = 5
AFTER_CARBONS = -20
# Before offline delivery (0) schedules its pop in the account's lane.
SYNC_PRIORITY = 10
SYNC_BATCH = 500


@implementer(IDisco)
class MamHandler(XMPPHandler, IQHandlerMixin):
    iqHandlers = {QUERY_SET: "onQuery", QUERY_GET: "onFields", PREFS_GET: "onPrefsGet",
                  PREFS_SET: "onPrefsSet", METADATA: "onMetadata"}

    def __init__(self, host, options):
        XMPPHandler.__init__(self)
        self.host = host
        self.options = options
        self.prefs = PrefsRegistry(host, options.default)
        self.archiver = Archiver(host, self.prefs)
        self.retention = None
        # The offline service stores in this queue instead of its own.
        self.queue = host.storage.mam_offline if options.offline_in_archive else None
        if self.queue is not None:
            host.provide(IOfflineQueue, self.queue)

    @property
    def store(self):
        return self.host.storage.mam

    def connectionInitialized(self):
        for path in self.iqHandlers:
            self.xmlstream.addObserver(path, self.handleRequest)
        archiver, events = self.archiver, self.host.events
        events.hook(MESSAGE_INBOUND, archiver.onInbound, ROUTE_PRIORITY)
        events.hook(MESSAGE_ROUTE, archiver.onRoute, ROUTE_PRIORITY)
        events.hook(MESSAGE_OFFLINE, archiver.onOffline, OFFLINE_PRIORITY)
        events.hook(OFFLINE_STORED, archiver.onOfflineStored)
        events.hook(CLIENT_OUTBOUND, archiver.onOutbound, OUTBOUND_PRIORITY)
        events.hook(CLIENT_OUTBOUND, archiver.afterOutbound, AFTER_CARBONS)
        events.hook(ROSTER_CHANGED, self.prefs.onRosterChanged)
        events.hook(ACCOUNT_DELETED, self.prefs.forget)
        events.hook(RESOURCE_AVAILABLE, self.onResourceAvailable, SYNC_PRIORITY)
        self.prefs.load()
        if self.options.max_age:
            self.retention = task.LoopingCall(self.sweep)
            self.retention.start(self.options.retention_interval, now=True)

    def connectionLost(self, reason):
        archiver, events = self.archiver, self.host.events
        events.unhook(MESSAGE_INBOUND, archiver.onInbound)
        events.unhook(MESSAGE_ROUTE, archiver.onRoute)
        events.unhook(MESSAGE_OFFLINE, archiver.onOffline)
        events.unhook(OFFLINE_STORED, archiver.onOfflineStored)
        events.unhook(CLIENT_OUTBOUND, archiver.onOutbound)
        events.unhook(CLIENT_OUTBOUND, archiver.afterOutbound)
        events.unhook(ROSTER_CHANGED, self.prefs.onRosterChanged)
        events.unhook(ACCOUNT_DELETED, self.prefs.forget)
        events.unhook(RESOURCE_AVAILABLE, self.onResourceAvailable)
        if self.retention is not None and self.retention.running:
            self.retention.stop()
        XMPPHandler.connectionLost(self, reason)

    def sweep(self, now=None):
        d = self.archiver.sweep(self.options.max_age, now)
        d.addErrback(log.err, "MAM retention sweep failed")
        return d

    # Whose archive -----------------------------------------------------------------------

    def _owner(self, iq):
        """§4: a user queries their own archive; nobody else's."""
        sender = JID(iq["from"])
        to = iq.getAttribute("to")
        if not sender.user or (to and JID(to).userhostJID() != sender.userhostJID()):
            raise StanzaError("forbidden", text="only the owner may use an archive")
        return sender.userhost()

    # Queries (§4) ---------------------------------------------------------------------------

    def onFields(self, iq):
        self._owner(iq)
        query = domish.Element((NS_MAM, "query"))
        query.addChild(fieldsForm())
        return query

    def onQuery(self, iq):
        owner = self._owner(iq)
        session = self.host.sessions.get(JID(iq["from"]))
        if session is not None and not session.available:
            # The client syncs through MAM: see onResourceAvailable. This
            # query reads everything archived for the owner up to this
            # stamp (it waits for those writes first), even if the client
            # sends its presence before the answer.
            session.mamSyncing = True
            session.mamSyncedTo = self.archiver.clock.watermark()
        request = parseQuery(iq.query, owner, self.options.page_size,
                             self.options.max_page_size, self.options.rsm_count)
        return defer.ensureDeferred(self._answer(iq, owner, session, request))

    async def _answer(self, iq, owner, session, request):
        # Everything routed before the query is in the archive by now.
        await self.archiver.writer.settled(owner)
        try:
            page = await self.store.query(request.query)
        except ArchiveItemNotFound as missing:
            raise StanzaError("item-not-found",
                              text="no message %s in this archive" % missing.stanzaId)
        rows = list(reversed(page.rows)) if request.flip else page.rows
        if session is not None and not session.closed:
            for stanzaId, stamp, xml in rows:
                # Past any hold: results are no live traffic to keep in order.
                session.write(resultMessage(iq["from"], owner, request.queryId,
                                            stanzaId, stamp, xml))
        return finElement(page, rows, request.flip, request.countOnly)

    def onMetadata(self, iq):
        owner = self._owner(iq)
        d = self.archiver.writer.settled(owner)
        d.addCallback(lambda _: self.store.bounds(owner))

        def render(bounds):
            metadata = domish.Element((NS_MAM, "metadata"))
            if bounds is not None:
                for name, (stanzaId, stamp) in zip(("start", "end"), bounds):
                    element = metadata.addElement(name)
                    element["id"] = stanzaId
                    element["timestamp"] = formatStamp(stamp)
            return metadata
        d.addCallback(render)
        return d

    # Preferences (§6) -----------------------------------------------------------------------

    def onPrefsGet(self, iq):
        return self.prefs.get(self._owner(iq)).toElement()

    def onPrefsSet(self, iq):
        owner = self._owner(iq)
        try:
            prefs = parsePrefs(iq.prefs)
        except ValueError as e:
            raise StanzaError("bad-request", text=str(e))
        d = self.prefs.set(owner, prefs)
        d.addCallback(lambda _: prefs.toElement())
        return d

    # Syncing through MAM instead of the offline flood ---------------------------------------

    def onResourceAvailable(self, session):
        if not getattr(session, "mamSyncing", False) or not self.options.sync_replaces_offline:
            return None
        offline = self.host.optionalService(IOfflineService)
        if offline is None or not offline.enabled:
            return None
        account = session.bareJID.userhost()
        upTo = getattr(session, "mamSyncedTo", None)
        d = self.host.lanes.run(account, self._dropArchivedOffline, account, upTo)
        d.addErrback(log.err, "dropping %s's archived offline messages failed" % account)
        return None

    def _dropArchivedOffline(self, account, upTo):
        return defer.ensureDeferred(self._dropArchived(account, upTo))

    async def _dropArchived(self, account, upTo):
        """
        Runs in the account's lane ahead of the offline delivery: what the
        client finds in the archive leaves the queue, the rest (receipts,
        ``no-permanent-store``, what preferences kept out) is delivered.

        In the archive's own queue a row that refers to the archive is in
        it, and the stamp of its archive row says whether the client's
        query could see it: a message archived after the query (``upTo``)
        is delivered. In the offline module's queue the stored copy's
        stanza-id is all there is to go by.
        """
        offline = self.host.service(IOfflineService)
        if self.queue is not None and offline.store is self.queue:
            if upTo is not None:
                await self.queue.dropArchived(account, upTo)
            return
        afterId, archived = 0, []
        while True:
            rows = await offline.store.fetch(account, afterId, SYNC_BATCH, offline.now())
            for rowId, _sender, xml in rows:
                if NS_SID in xml and stanzaIdBy(parseXml(xml.encode("utf-8")),
                                                account) is not None:
                    archived.append(rowId)
            if len(rows) < SYNC_BATCH:
                break
            afterId = rows[-1][0]
        if archived:
            await offline.store.delete(archived, account)

    # Discovery (§7) ----------------------------------------------------------------------------

    def getDiscoInfo(self, requestor, target, nodeIdentifier=""):
        if nodeIdentifier or not target.user or target.resource:
            return defer.succeed([])
        if requestor is None or requestor.userhost() != target.userhost():
            return defer.succeed([])
        return defer.succeed([disco.DiscoFeature(ns)
                              for ns in (NS_MAM, NS_MAM_EXTENDED, NS_SID)])

    def getDiscoItems(self, requestor, target, nodeIdentifier=""):
        return defer.succeed([])


def handlersFor(host, options):
    return [MamHandler(host, options)]
