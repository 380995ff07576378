"""
Per-key FIFO lanes of asynchronous jobs: a job for a key starts only when
the previous job for that key has finished.

The server keeps one set of lanes keyed by account (``XMPPServer.pipeline``):
everything that reads or writes one account's message flow -- routing a
message to it, storing it offline, delivering the stored messages, routing
again what a departed session left behind -- passes through that account's
lane in arrival order. The pump is a loop, not a chain of callbacks:
hundreds of jobs that finish at once (a recipient coming online while a
burst waits on the database) would otherwise recurse once per job and
overflow the stack.
"""

from collections import deque
from types import CoroutineType

from twisted.internet import defer
from twisted.python import failure


class Lanes:
    def __init__(self):
        self._queues = {}

    def run(self, key, job, *args):
        """Fire with ``job(*args)``'s result once every earlier job for ``key`` is done."""
        return self._enqueue(key, (job, args, defer.Deferred()), deque.append)

    def runNext(self, key, job, *args):
        """
        As ``run``, but ahead of every job still waiting: for stanzas that
        were already routed once (a session left with them) and must keep
        their place before messages that arrived after them.
        """
        def behindRunning(queue, item):
            queue.insert(1, item)
        return self._enqueue(key, (job, args, defer.Deferred()), behindRunning)

    def busy(self, key):
        return key in self._queues

    def _enqueue(self, key, item, place):
        queue = self._queues.get(key)
        if queue is not None:
            place(queue, item)
            return item[2]
        self._queues[key] = deque([item])
        self._pump(key)
        return item[2]

    def _pump(self, key):
        queue = self._queues[key]
        while queue:
            job, args, _ = queue[0]
            outcome = _call(job, args)
            if isinstance(outcome, defer.Deferred):
                finishedNow = []
                running = [True]

                def done(outcome, finishedNow=finishedNow, running=running):
                    if running[0]:
                        finishedNow.append(outcome)
                    else:
                        # It finished later: go on from this fresh stack.
                        self._settle(key, outcome)
                        self._pump(key)

                outcome.addBoth(done)
                running[0] = False
                if not finishedNow:
                    return
                outcome = finishedNow[0]
            self._settle(key, outcome)
        del self._queues[key]

    def _settle(self, key, outcome):
        _, _, result = self._queues[key].popleft()
        if isinstance(outcome, failure.Failure):
            result.errback(outcome)
        else:
            result.callback(outcome)


def _call(job, args):
    """
    ``job(*args)`` as maybeDeferred sees it, without a Deferred for a job
    that finishes at once: a live delivery to an idle lane, the common case,
    then costs the lane no callbacks of its own.
    """
    try:
        outcome = job(*args)
    except BaseException:
        return failure.Failure()
    if type(outcome) is CoroutineType:
        return defer.Deferred.fromCoroutine(outcome)
    return outcome
