"""
Which accounts' offline queues are known to be empty, so that a login
need not ask the database (one query of the three a login costs).

A queue is known empty once a delivery's first read found nothing in it
and no stored message could have been missed by that read: none was being
written when the read began, and none began before it was over. Every
message stored afterwards goes through ``writing`` first, which forgets
the account, so a known-empty queue is never one with a row in it. Rows
come in only through the offline service's insert (``storeNow``), on this
node: on a cluster other nodes store too, and nothing is remembered. The
start-up handover of rows between queues is over before any delivery
reads (``OfflineService.queueReady``). The memory is bounded: the oldest
accounts are forgotten first, and a forgotten one is only read again.
"""

KNOWN_EMPTY_LIMIT = 65536


class EmptyQueues:
    def __init__(self, enabled=True, limit=KNOWN_EMPTY_LIMIT):
        self.enabled = enabled
        self.limit = limit
        self._empty = {}
        # Inserts begun, and those begun and not yet over (stored or not).
        self._begun = 0
        self._inFlight = 0

    def knownEmpty(self, recipient):
        return recipient in self._empty

    def writing(self, recipient):
        """An insert for ``recipient`` begins; ``written`` follows when it is over."""
        self._empty.pop(recipient, None)
        self._begun += 1
        self._inFlight += 1

    def written(self):
        self._inFlight -= 1

    def beforeRead(self):
        """What ``foundEmpty`` needs to know whether a read could have missed a row."""
        if not self.enabled or self._inFlight:
            return None
        return self._begun

    def foundEmpty(self, recipient, token):
        """A read that began at ``token`` (``beforeRead``) found nothing for ``recipient``."""
        if token is None or token != self._begun or self._inFlight:
            return
        self._empty[recipient] = None
        if len(self._empty) > self.limit:
            del self._empty[next(iter(self._empty))]
