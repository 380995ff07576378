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


# The outcome of a job that has not run yet.
_NOT_RUN = object()


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

    def runNow(self, key, job, *args):
        """
        As ``run``, for a job that mostly finishes at once (a live delivery):
        on an idle lane it runs now, and if it finished at once with the
        lane idle again, its outcome is returned as is (a Failure if it
        raised), with no Deferred at all; otherwise ``run``'s Deferred.
        Anything queued for ``key`` while the job runs waits for it.
        """
        if key in self._queues or type(self)._pump is not Lanes._pump:
            # A lane with a pump of its own (the cluster's takes the
            # account's lock first) is always pumped.
            return self.run(key, job, *args)
        queue = self._queues[key] = deque([(job, args, None)])
        outcome = _call(job, args)
        if len(queue) == 1 and not isinstance(outcome, defer.Deferred):
            del self._queues[key]
            return outcome
        result = defer.Deferred()
        queue[0] = (job, args, result)
        self._pump(key, outcome)
        return result

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

    def _pump(self, key, outcome=_NOT_RUN):
        """Run the lane's jobs in turn; ``outcome`` is the first one's, if it has run."""
        queue = self._queues[key]
        while queue:
            if outcome is _NOT_RUN:
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
            outcome = _NOT_RUN
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
