"""
The offline service a host provides as its IOfflineService: the decision
and the commit of one offline message (SPEC §2, §4), as two steps.

They are two steps for AMP (SPEC §6): it must know whether a message *would*
be stored (``deliver=stored`` or ``deliver=none``) before anything happens to
it. Only then does ``decide`` ask the store to look ahead at the quota
(``quotaAhead``, unlocked); otherwise the atomic insert in ``commit`` alone
decides, and a limit it meets turns into the same bounce or drop. Which
limits apply is decided here; what a limit means, only in the store.

Both run inside the recipient's lane (``host.lanes``), where the message
router called them: stores, deliveries and re-stores of what a
departed session left behind never overtake each other, even on MariaDB's
pool of connections.
"""

import time
import weakref

from twisted.internet import defer
from twisted.python import failure, log
from twisted.words.protocols.jabber.jid import JID
from zope.interface import implementer

from xmppd.api import (
    EXPIRES_AT, IOfflineQueue, IOfflineService, OFFLINE_STORED, QuotaExceeded, UnknownUser,
    annotation, offlineCopy)

from xmppd.offline import policy
from xmppd.offline.emptiness import EmptyQueues
from xmppd.offline.matchers import parseMatchers
from xmppd.offline.metrics import metricsFor

LIMIT_NODE = "offline-msgs"
LIMIT_KEY = "store-limit"


def storedCopy(stanza, domain, receivedAt):
    """The stanza as sent, plus the server's XEP-0203 delay (SPEC §2), as XML."""
    return offlineCopy(stanza, domain, receivedAt)


@implementer(IOfflineService)
class OfflineService:
    """
    What the host's IOfflineService offers modules (AMP first of all):
    ``decide``, ``commit``, and the events ``offline/stored``
    (offlineMessage, rowId), ``offline/delivered`` (session, rowIds),
    ``offline/expired`` (recipient, sender, xml).
    """

    enabled = True
    # The account check of a message to store is this service's, in the
    # insert's transaction (the router need not ask the database first).
    checksAccounts = True

    def __init__(self, host, options, clock=None):
        self.host = host
        self.options = options
        # The expiry tests put a task.Clock here (and AMP reads it through now()).
        self.clock = clock if clock is not None else host.clock
        self.matchers = parseMatchers(options.store_paths)
        self.metrics = metricsFor(host)
        self.delivery = None
        self.handover = None
        self._noFlood = weakref.WeakSet()
        # On a cluster, other nodes store into the same queues.
        cluster = getattr(host.config, "cluster", None)
        self.emptyQueues = EmptyQueues(enabled=cluster is None or not cluster.enabled)

    @property
    def options(self):
        return self._options

    @options.setter
    def options(self, options):
        self._options = options
        # Read for every stored message: as plain attributes, since the
        # config section answers each name through __getattr__ (a failed
        # lookup first) every time.
        self._userLimits = options.user_limits
        self._pairLimit = options.pair_limit
        self._userLimitRule = options.access_max_user_messages
        self._storeGroupchat = options.store_groupchat_messages
        self._bytesLimit = options.max_user_bytes or None

    @property
    def pipeline(self):
        return self.host.lanes

    @property
    def store(self):
        """
        The queue in use: the IOfflineQueue a module provides (mam's, whose
        rows refer to the archive), else this module's own.
        """
        provided = self.host.optionalService(IOfflineQueue)
        return provided if provided is not None else self.host.storage.offline

    def queueReady(self):
        """Fires once the rows of the queues not in use were moved into it (handover)."""
        if self.handover is None:
            return defer.succeed(None)
        return self.handover.ready()

    @property
    def backend(self):
        return self.host.storage.database.backend

    def now(self):
        """Now in µs, from the injectable clock (the expiry tests move it)."""
        return int(self.clock.seconds() * 1_000_000)

    def stopFlood(self, session):
        """XEP-0013 §2.4: this session retrieves its messages itself; none at presence."""
        self._noFlood.add(session)

    def floods(self, session):
        return session not in self._noFlood

    # The decision (SPEC §2) -----------------------------------------------------

    def decide(self, offlineMessage, quotaAhead=False):
        """
        Whether the message is to be stored; with ``quotaAhead`` (AMP must
        know before acting) the limits are counted now, unlocked, too.
        Without either that or users' own limits nothing is read: the
        Decision is there at once, and the insert alone counts.
        """
        if quotaAhead or self._userLimits:
            return defer.ensureDeferred(self._decide(offlineMessage, quotaAhead))
        return defer.succeed(self._decideNow(offlineMessage))

    def _decideNow(self, offlineMessage):
        """``decide`` when nothing is to be read: the Decision itself."""
        decision = self._eligibility(offlineMessage)
        if decision.store:
            try:
                decision.pairLimit = self._pairLimit
                # The router's bare JID as is: the access rules would parse a
                # string into a JID again, for every stored message.
                decision.userLimit = self.userLimitFor(_bareJID(offlineMessage.recipient))
            except Exception:
                log.err(None, "offline quota check failed")
                return _storageFailed()
        return decision

    def _eligibility(self, offlineMessage):
        """SPEC §2's rules and the expiry: stored, dropped or bounced, limits aside."""
        stanza = offlineMessage.stanza
        children = policy.elementsOf(stanza)
        decision = policy.eligibility(stanza, self.matchers,
                                      self._storeGroupchat, children)
        if not decision.store:
            return decision
        receivedAt = getattr(offlineMessage, "receivedAt", None)
        if receivedAt is None:
            receivedAt = offlineMessage.receivedAt = self.now()
        decision.expiresAt = policy.expiresAt(
            stanza, receivedAt, getattr(offlineMessage, "expiresAt", None), children)
        if decision.expiresAt is not None and decision.expiresAt <= receivedAt:
            return policy.dropped("expired")
        return decision

    async def _decide(self, offlineMessage, quotaAhead):
        stanza = offlineMessage.stanza
        decision = self._eligibility(offlineMessage)
        if not decision.store:
            return decision
        recipient = _bare(offlineMessage.recipient)
        try:
            decision.pairLimit = await self.pairLimitFor(recipient)
            decision.userLimit = self.userLimitFor(recipient)
            over = None
            if quotaAhead:
                over = await self._overQuota(recipient, _bare(stanza["from"]),
                                             decision.pairLimit, decision.userLimit)
        except Exception:
            log.err(None, "offline quota check failed")
            return _storageFailed()
        if over is not None:
            return policy.overQuota(over, self.options.quota_exceeded)
        return decision

    async def pairLimitFor(self, recipient):
        """The user's own limit if users may set one (SPEC §4), else ``pair_limit``."""
        if self.options.user_limits:
            value = await self.host.storage.settings.get(recipient, LIMIT_NODE, LIMIT_KEY)
            if value == "false":
                return None
            if value is not None and value.isdigit():
                return int(value)
        return self.options.pair_limit

    def userLimitFor(self, recipient):
        return self.host.access.evaluate(self._userLimitRule, recipient)

    async def _overQuota(self, recipient, sender, pairLimit, userLimit):
        if pairLimit is None and userLimit is None:
            return None
        return await self.store.wouldExceed(recipient, sender, pairLimit, userLimit)

    # The outcome -------------------------------------------------------------------

    def commit(self, offlineMessage, decision):
        """Fire "stored", or the reason it was not (already bounced or dropped)."""
        if not decision.store:
            if not getattr(offlineMessage, "accountKnown", True):
                # No insert to check it: a message to no account is refused
                # as such whatever the policy would have done with it.
                return defer.ensureDeferred(self._refuse(offlineMessage, decision))
            self.reject(offlineMessage, decision)
            return defer.succeed(decision.reason)
        return self.storeNow(offlineMessage, decision)

    async def _refuse(self, offlineMessage, decision):
        stanza = offlineMessage.stanza
        try:
            exists = await self.host.isLocalUser(JID(_bare(offlineMessage.recipient)))
        except Exception:
            log.err(None, "account lookup failed")
            exists, decision = True, _storageFailed()
        if not exists:
            offlineMessage.unknownAccount(stanza)
            return "no-account"
        self.reject(offlineMessage, decision)
        return decision.reason

    def reject(self, offlineMessage, decision):
        if decision.bounce:
            self.host.bounce(offlineMessage.stanza, decision.condition,
                             decision.errorType, decision.text)
            self.metrics.bounced.labels(decision.reason).inc()
        else:
            self.metrics.dropped.labels(decision.reason).inc()

    def storeNow(self, offlineMessage, decision):
        """
        The atomic insert with the limits (SPEC §4) and the account check,
        in the recipient's lane; the lane may go on once the insert is
        queued in a queue that keeps the order (``offlineMessage.queued``).
        Plain callbacks, no coroutine, on the way of every stored message.
        """
        started = time.perf_counter()
        self.emptyQueues.writing(_bare(offlineMessage.recipient))
        store = self.store
        # The insert checks the account where the users are in its database.
        inOne = store.database is not None and store.database is getattr(
            self.host.storage.users, "database", None)
        handover = self.handover
        if inOne and (handover is None or handover.done):
            d = self._insert(offlineMessage, decision, store, inOne)
        else:
            d = defer.ensureDeferred(self._insertLater(offlineMessage, decision, store, inOne))
        d.addCallbacks(self._stored, self._notStored, callbackArgs=(offlineMessage, started),
                       errbackArgs=(offlineMessage, started))
        return d

    async def _insertLater(self, offlineMessage, decision, store, inOne):
        # Older rows of another queue go in first (a start-up's handover).
        await self.queueReady()
        if not inOne and not await self.host.isLocalUser(JID(_bare(offlineMessage.recipient))):
            # Users in memory (the memory backend): nothing runs between.
            raise UnknownUser(offlineMessage.recipient)
        return await self._insert(offlineMessage, decision, store, inOne)

    def _insert(self, offlineMessage, decision, store, inOne):
        stanza = offlineMessage.stanza
        try:
            receivedAt = getattr(offlineMessage, "receivedAt", None) or self.now()
            stored = store.store(
                _bare(offlineMessage.recipient), _bare(stanza["from"]),
                storedCopy(stanza, self.host.domain, receivedAt), receivedAt,
                decision.expiresAt, decision.pairLimit, decision.userLimit,
                # [modules.offline] max_user_bytes, enforced by the insert.
                userBytesLimit=self._bytesLimit,
                # A queue that keeps less than the copy reads the message's notes.
                stanza=stanza,
                # Even an account that had a session may be deleted by now.
                requireAccount=inOne)
        except Exception:
            return defer.fail()
        queued = getattr(offlineMessage, "queued", None)
        if queued is not None and getattr(store, "ordered", False):
            queued()
        return stored

    @property
    def _writeSeconds(self):
        # The backend's child of the histogram, found once: labels() takes
        # a lock and builds its key on every call, per stored message.
        child = self.__dict__.get("_writeSecondsChild")
        if child is None:
            child = self._writeSecondsChild = self.metrics.writeSeconds.labels(self.backend)
        return child

    def _stored(self, rowId, offlineMessage, started):
        self.emptyQueues.written()
        self._writeSeconds.observe(time.perf_counter() - started)
        self.metrics.stored.inc()
        self.host.events.fire(OFFLINE_STORED, offlineMessage, rowId)
        return "stored"

    def _notStored(self, failure, offlineMessage, started):
        self.emptyQueues.written()
        self._writeSeconds.observe(time.perf_counter() - started)
        stanza = offlineMessage.stanza
        if failure.check(UnknownUser):
            unknown = getattr(offlineMessage, "unknownAccount", None)
            if unknown is not None:
                unknown(stanza)
            else:
                self.host.bounce(stanza, "service-unavailable", "cancel")
            return "no-account"
        if failure.check(QuotaExceeded):
            refused = policy.overQuota(failure.value.limit, self.options.quota_exceeded)
            self.reject(offlineMessage, refused)
            return refused.reason
        log.err(failure, "storing an offline message failed")
        failed = _storageFailed()
        self.reject(offlineMessage, failed)
        return failed.reason

    # The message/offline event ----------------------------------------------------

    def onOfflineMessage(self, offlineMessage):
        if offlineMessage.rerouted:
            # Keep the expire-at the first routing honoured (XEP-0079 §3.3.2).
            expiresAt = annotation(offlineMessage.stanza, EXPIRES_AT)
            if expiresAt is not None:
                offlineMessage.expiresAt = expiresAt
        if self._userLimits:
            d = self.decide(offlineMessage)
            d.addCallback(self._commitDecided, offlineMessage)
            d.addErrback(self._failed, offlineMessage)
            return d
        # Nothing to read before the insert (the usual case): no Deferred
        # for the decision, one for the outcome.
        try:
            d = self.commit(offlineMessage, self._decideNow(offlineMessage))
        except Exception:
            return defer.succeed(self._failed(failure.Failure(), offlineMessage))
        d.addErrback(self._failed, offlineMessage)
        return d

    def _commitDecided(self, decision, offlineMessage):
        return self.commit(offlineMessage, decision)

    def _failed(self, failure, offlineMessage):
        log.err(failure, "offline message handling failed")
        self.reject(offlineMessage, _storageFailed())
        return "storage-failed"


@implementer(IOfflineService)
class DisabledOffline:
    """
    The IOfflineService while offline storage is off (SPEC §2 rule 2), so
    that AMP asks the same questions either way: the stub drops, otherwise
    the sender hears MongooseIM's "Bounce offline message".
    """

    enabled = False
    options = None
    store = None

    def __init__(self, host, stub):
        self.host = host
        self.stub = stub

    def now(self):
        return int(self.host.clock.seconds() * 1_000_000)

    def stopFlood(self, session):
        pass

    def pairLimitFor(self, recipient):
        return defer.succeed(None)

    def decide(self, offlineMessage, quotaAhead=False):
        if offlineMessage.stanza.getAttribute("type") == "error":
            return defer.succeed(policy.dropped("error"))
        if self.stub:
            return defer.succeed(policy.dropped("disabled"))
        return defer.succeed(policy.bounced("disabled", policy.DISABLED_TEXT))

    def commit(self, offlineMessage, decision):
        if decision.bounce:
            self.host.bounce(offlineMessage.stanza, decision.condition,
                             decision.errorType, decision.text)
        return defer.succeed(decision.reason)


def _storageFailed():
    return policy.bounced("storage-failed", policy.FAILED_TEXT,
                          "internal-server-error", "wait")


def _bare(jid):
    if isinstance(jid, JID):
        return jid.userhost()
    return JID(jid).userhost()


def _bareJID(jid):
    if isinstance(jid, JID):
        return jid.userhostJID()
    return JID(jid).userhostJID()
