"""
Last activity (XEP-0012): when each account's last resource went offline.

One row per account, overwritten at each logout: the question asked is only
ever "how long ago", never a history.

Logouts are written a little later (``WRITE_DELAY``), the ones that came
meanwhile in one transaction: a logout's own hand-off to the database
thread was a tenth of the server's time per login in the login benchmark,
for a row that nothing waits on. ``get`` answers from the logouts not yet
written, so the server never tells an older time than it knows; the
database's ``beforeStop`` writes them at shutdown; a row is written only
for an account that still exists, so that a logout just before the
account's deletion leaves nothing behind. A crash loses at most the last
``WRITE_DELAY`` of logouts, a time and never a message. On a cluster
another node sees a logout once it is written.
"""

from twisted.internet import defer
from twisted.python import log
from zope.interface import Interface, implementer

from xmppd.api import SQLStore, existingAccounts

WRITE_DELAY = 0.5


class ILastActivityStore(Interface):
    """XEP-0012: each account's last logout."""

    def get(jid):
        """Fire ``(logoutAt, status)`` (Unix seconds, text), or None."""

    def set(jid, logoutAt, status=""):
        """Record the account's last logout, replacing the previous one."""


@implementer(ILastActivityStore)
class LastActivityStore(SQLStore):
    accountTables = [("last_activity", "jid")]

    def __init__(self, database, clock=None):
        SQLStore.__init__(self, database)
        if clock is None:
            from twisted.internet import reactor as clock
        self.clock = clock
        # jid -> (logoutAt, status): waiting for the next write, and the
        # ones the write under way holds.
        self._waiting = {}
        self._writing = {}
        self._timer = None
        self._write = None
        beforeStop = getattr(database, "beforeStop", None)
        if beforeStop is not None:
            beforeStop(self.flush)

    def get(self, jid):
        """(logout time in Unix seconds, status text), or None if never recorded."""
        known = self._waiting.get(jid) or self._writing.get(jid)
        if known is not None:
            return defer.succeed(known)
        d = self.database.runQuery(
            "SELECT logout_at, status FROM last_activity WHERE jid = ?", (jid,))
        d.addCallback(lambda rows: (int(rows[0][0]), rows[0][1]) if rows else None)
        return d

    def set(self, jid, logoutAt, status=""):
        self._waiting[jid] = (int(logoutAt), status or "")
        if self._timer is None and self._write is None:
            self._timer = self.clock.callLater(WRITE_DELAY, self.flush)
        return defer.succeed(None)

    def flush(self):
        """Write every logout recorded so far; fires once they are written."""
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if self._write is not None:
            # One write at a time: the next follows this one.
            return self._write.addCallback(lambda _: self.flush())
        if not self._waiting:
            return defer.succeed(None)
        self._writing, self._waiting = self._waiting, {}
        d = self._write = self.database.runInteraction(self._writeAll, dict(self._writing))
        d.addCallbacks(self._written, self._notWritten)
        return d

    def _written(self, _):
        self._write = None
        self._writing = {}
        if self._waiting and self._timer is None:
            self._timer = self.clock.callLater(WRITE_DELAY, self.flush)

    def _notWritten(self, failure):
        self._write = None
        if not getattr(self.database, "isOpen", True):
            # Stopped without its beforeStop (a test's database, torn down).
            log.msg("last activity: %d logouts not recorded, the database is closed"
                    % len(self._writing))
            self._writing = {}
            return
        log.err(failure, "recording %d last activities failed; trying again" % len(self._writing))
        for jid, value in self._writing.items():
            self._waiting.setdefault(jid, value)
        self._writing = {}
        if self._timer is None:
            self._timer = self.clock.callLater(WRITE_DELAY, self.flush)

    def _writeAll(self, transaction, rows):
        if self.database.backend == "memory":
            # The memory backend's accounts are Python objects, not rows of
            # this database: deleteAccount's pop has to do.
            kept = sorted(rows)
        else:
            existing = existingAccounts(transaction, rows)
            kept = [jid for jid in sorted(rows) if jid in existing]
        if kept:
            sql = transaction.engine.upsert("last_activity", ("jid",), ("logout_at", "status"))
            transaction.executemany(sql, [(jid,) + rows[jid] for jid in kept])

    def deleteAccount(self, transaction, bareJID):
        # The logout waiting to be written goes with the account.
        self._waiting.pop(bareJID, None)
        self._writing.pop(bareJID, None)
        SQLStore.deleteAccount(self, transaction, bareJID)
