"""
The interfaces of the services built-in modules offer each other through
``host.provide`` / ``host.service`` (see xmppd.services). They are part of
the module API: a third-party module may provide or use them too.
"""

from zope.interface import Attribute, Interface


class IOfflineService(Interface):
    """
    Offline storage's decision and commit, asked by whoever takes a
    ``message/offline`` event first (AMP asks before acting, XEP-0079 §3.3.1)
    and by the modules that read or trim the queue (msgoffline, XEP-0013,
    MAM's login sync). Provided by ``offline`` while storage is on, and by
    ``offline_stub`` (``enabled`` False) while it is off.
    """

    enabled = Attribute("True if messages are stored; False for the stub.")
    options = Attribute("The offline module's validated options.")
    store = Attribute("The IOfflineQueue in use: the one a module provides, else the"
                      " offline module's own (None for the stub).")

    def now():
        """The service's clock, in microseconds since the epoch."""

    def decide(offlineMessage, quotaAhead=False):
        """Fire the Decision for a message no resource can take (nothing written)."""

    def commit(offlineMessage, decision):
        """Carry the decision out (store, drop or bounce); fire its reason."""

    def pairLimitFor(recipient):
        """Fire the per-pair limit that applies to ``recipient`` (None: no limit)."""

    def stopFlood(session):
        """
        The client of ``session`` retrieves its offline messages itself
        (XEP-0013 §2.4): none are sent to it at its initial presence.
        """


class IOfflineQueue(Interface):
    """
    The offline message queue of every local account, in arrival (id)
    order: what the offline service stores, delivers, expires and counts
    against the limits. The offline module keeps one of its own (its
    ``offline`` store); another module may provide a queue under this
    interface (``host.provide(IOfflineQueue, queue)``), which the offline
    service then uses instead -- ``mam`` does with ``offline_in_archive``,
    so that a message it archives is not stored a second time. Every
    implementation is held to the same contract (tests/storage/test_offline.py).

    ``xml`` is always the stored copy as the offline module made it
    (``offlineCopy``): a queue may keep it in another form, but gives back
    exactly those bytes.
    """

    def store(recipient, sender, xml, storedAt, expiresAt=None,
              pairLimit=None, userLimit=None, userBytesLimit=None, stanza=None,
              requireAccount=False):
        """
        Append one stanza to ``recipient``'s queue and fire its id.

        ``storedAt``/``expiresAt`` are microseconds since the epoch (UTC).
        ``pairLimit`` caps the rows from ``sender`` to ``recipient``,
        ``userLimit`` the recipient's whole queue, as ``exceededLimit``
        reads them; None means no cap. The count and the insert are atomic:
        concurrent stores never overshoot. Rows expired but not yet purged
        still count. Fails with QuotaExceeded naming the limit.
        ``userBytesLimit`` caps the bytes of the recipient's whole queue
        (QuotaExceeded "bytes", ``exceededBytes``), checked in the same
        transaction. ``stanza``: the message itself, with the annotations
        modules noted on it, for a queue that keeps something else than
        ``xml`` (None: only ``xml`` is known). ``requireAccount``: store
        only if ``recipient``'s account exists, checked in the same
        transaction (``accountExists``) before anything is written; fails
        UnknownUser otherwise. A queue without a database (``database``
        None, the memory backend's) leaves that check to its caller, in the
        same reactor turn.

        A queue whose ``ordered`` is true commits its stores in the order
        they were asked (``Database.runOrdered``): its caller may then ask
        for the next store of a recipient before the previous one fired.
        """

    def wouldExceed(recipient, sender, pairLimit=None, userLimit=None):
        """
        Fire the limit (``exceededLimit``) that one more row from ``sender``
        would pass now, or None: an unlocked look ahead (AMP must know
        whether a message would be stored before it is), which ``store``
        then decides for good.
        """

    def fetch(recipient, afterId=0, limit=100, now=None):
        """
        Fire up to ``limit`` rows ``(id, sender, xml)`` with id > afterId, in
        id order, leaving out those expired at ``now`` (µs; None means the
        current time), i.e. with expiresAt <= now. Nothing is deleted: the
        caller deletes by id once the stanzas were sent.
        """

    def delete(ids, recipient=None):
        """
        Delete exactly these rows; fire how many existed. ``recipient``:
        the queue the rows were fetched from, when the caller knows it
        (a delivery, a XEP-0013 removal); rows of any other recipient are
        then left alone, and a queue finds the rows by recipient first
        (on MariaDB, the key the queue is stored in).
        """

    def count(recipient):
        """Fire the number of stored rows for ``recipient``."""

    def listMessages(recipient):
        """Fire all rows ``(id, sender, storedAt, expiresAt, xml)`` in order."""

    def purge(recipient):
        """Delete every row of ``recipient``; fire how many."""

    def purgeExpired(now):
        """Delete rows whose expiresAt <= now; fire the deleted rows
        ``(id, recipient, sender, xml)`` in id order, so that AMP can tell
        senders."""

    def purgeOlderThan(cutoff):
        """Delete rows stored before ``cutoff`` (µs); fire how many."""

    def export(afterId=0, limit=500):
        """
        Fire up to ``limit`` rows ``(id, recipient, sender, storedAt,
        expiresAt, xml)`` of every recipient with id > afterId, in id order,
        expired ones included: a queue handing its rows to another one.
        """

    def adopt(rows):
        """
        Append ``rows`` of ``(recipient, sender, storedAt, expiresAt, xml)``
        in their order, without limits (they were accepted once already),
        in one transaction; fire how many.
        """


def exceededLimit(pairLimit, userLimit, pairCount, userCount):
    """
    The limit that one more row would pass, or None: a limit of N allows N
    rows, so 0 stores nothing; "pair" is named when both are reached.
    """
    if pairLimit is not None and pairCount >= pairLimit:
        return "pair"
    if userLimit is not None and userCount >= userLimit:
        return "user"
    return None


def exceededBytes(limit, queueBytes, size):
    """"bytes" if a stanza of ``size`` bytes would take the queue past ``limit``."""
    if limit is not None and queueBytes + size > limit:
        return "bytes"
    return None


# A count limit above this is no limit in practice, and a larger one (a
# user's msgoffline value from before it was bounded) would overflow the
# drivers' integers in LIMIT ?, breaking every store for that user.
MAX_COUNT_LIMIT = 2 ** 31 - 1


class OverQuota:
    """
    What an offline queue's store interaction returns, not raises, over a
    limit: the transaction then commits (it wrote nothing but its lock)
    instead of paying for a rollback on every bounced message.
    """

    def __init__(self, limit):
        self.limit = limit


# What a queue's store interaction returns when ``requireAccount`` found no
# account: it wrote nothing (and took no lock), so it commits as it is.
NO_ACCOUNT = OverQuota(None)


def accountExists(transaction, jid):
    """
    Whether the account ``jid`` exists, read in a store's own transaction,
    so that checking the account costs no transaction of its own. On
    MariaDB it is a locking read: an account deletion waits for this
    transaction's commit (and then deletes what it wrote), or this
    transaction waits for the deletion's and finds no account; so no row
    outlives its account.
    """
    row = transaction.execute(
        "SELECT 1 FROM users WHERE jid = ?" + transaction.engine.forShare(),
        (jid,)).fetchone()
    return row is not None


def existingAccounts(transaction, jids, chunk=500):
    """``accountExists`` for many accounts at once: the set of ``jids`` that exist."""
    jids = sorted(set(jids))
    found = set()
    for start in range(0, len(jids), chunk):
        part = jids[start:start + chunk]
        found.update(row[0] for row in transaction.execute(
            "SELECT jid FROM users WHERE jid IN (%s)" % ", ".join("?" * len(part))
            + transaction.engine.forShare(), part).fetchall())
    return found


def deleteQueueRows(transaction, table, ids, recipient=None, chunk=500):
    # ``chunk`` keeps ``IN (...)`` lists well under every driver's and server's limits.
    """
    Delete the rows ``ids`` of a per-recipient queue ``table`` (a name of
    the calling store's own, never input), in chunks of ``chunk``; how many
    went. Naming the recipient makes each chunk a walk of one range of a
    primary key (recipient, id) on MariaDB instead of a look-up through
    the id key per row.
    """
    where, prefix = "id IN (%s)", []
    if recipient is not None:
        where, prefix = "recipient = ? AND id IN (%s)", [recipient]
    ids, deleted = list(ids), 0
    for start in range(0, len(ids), chunk):
        part = ids[start:start + chunk]
        transaction.execute("DELETE FROM %s WHERE " % table + where % ", ".join("?" * len(part)),
                            prefix + part)
        deleted += transaction.rowcount
    return deleted


def raiseOverQuota(result):
    """
    The Deferred callback that turns an OverQuota into QuotaExceeded, and
    NO_ACCOUNT into UnknownUser.
    """
    from xmppd.storage.interfaces import QuotaExceeded, UnknownUser
    if result is NO_ACCOUNT:
        raise UnknownUser()
    if isinstance(result, OverQuota):
        raise QuotaExceeded(result.limit)
    return result


def boundedLimit(limit):
    return None if limit is None else min(limit, MAX_COUNT_LIMIT)
