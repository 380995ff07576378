"""
Per-key FIFO lanes of asynchronous jobs: a job for a key starts only when
the previous job for that key has finished.

Messages to one recipient go through offline handling in arrival order, and
stores and deliveries of one account's queue never interleave. The pump is
a loop, not a chain of callbacks: hundreds of jobs that finish at once (a
recipient coming online while a burst waits on the database) would
otherwise recurse once per job and overflow the stack.
"""

from collections import deque

from twisted.internet import defer
from twisted.python import failure


class Lanes:
    def __init__(self):
        self._queues = {}

    def run(self, key, job, *args):
        """Fire with ``job(*args)``'s result once every earlier job for ``key`` is done."""
        result = defer.Deferred()
        queue = self._queues.get(key)
        if queue is not None:
            queue.append((job, args, result))
            return result
        self._queues[key] = deque([(job, args, result)])
        self._pump(key)
        return result

    def busy(self, key):
        return key in self._queues

    def _pump(self, key):
        queue = self._queues[key]
        while queue:
            job, args, _ = queue[0]
            finishedNow = []
            running = [True]

            def done(outcome, finishedNow=finishedNow, running=running):
                if running[0]:
                    finishedNow.append(outcome)
                else:
                    # It finished later: go on from this fresh stack.
                    self._settle(key, outcome)
                    self._pump(key)

            defer.maybeDeferred(job, *args).addBoth(done)
            running[0] = False
            if not finishedNow:
                return
            self._settle(key, finishedNow[0])
        del self._queues[key]

    def _settle(self, key, outcome):
        _, _, result = self._queues[key].popleft()
        if isinstance(outcome, failure.Failure):
            result.errback(outcome)
        else:
            result.callback(outcome)
