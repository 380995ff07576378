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

One exception to "finished": a job run with ``runOverlapping`` may call
``letGo(key)`` once whatever it does is queued somewhere that keeps the
order by itself (a stored message handed to a queue that commits in the
order asked), and the lane's next job starts then if it is an overlapping
one too, so that a burst of messages to one offline account reaches the
database together instead of one commit at a time. Any other job waits
until every earlier one has finished, as before: a delivery never reads
the queue before the stores ahead of it committed.

``runNow`` is ``runOverlapping`` for the job that mostly finishes at once
(a live message to an online recipient): on an idle lane it runs at once,
and its outcome comes back as is, with no Deferred made for it at all.
"""

from collections import deque
from types import CoroutineType

from twisted.internet import defer
from twisted.python import failure


class Lanes:
    def __init__(self):
        self._queues = {}
        # key -> the results of the jobs that let the lane go on and have
        # not finished yet.
        self._unfinished = {}
        # The keys whose next job waits for those (it is not overlapping).
        self._blocked = set()
        # key -> the state of the overlapping job running now, until it
        # lets go or finishes.
        self._overlapping = {}
        self._pumping = set()
        # An empty queue and a fresh job state and result for runNow's
        # next lane (see there).
        self._spare = None
        # A lane with a pump of its own (the cluster's takes the account's
        # lock first) is always pumped: runNow runs nothing inline there.
        self._runsInline = type(self)._pump is Lanes._pump

    def run(self, key, job, *args):
        """Fire with ``job(*args)``'s result once every earlier job for ``key`` is done."""
        return self._enqueue(key, (job, args, defer.Deferred()), deque.append)

    def runOverlapping(self, key, job, *args):
        """
        As ``run``, but the job may let the lane's next overlapping job
        start before it has finished (``letGo``); the result still fires
        with the job's, when it has finished.
        """
        return self._enqueue(key, (_Overlapping(job), args, defer.Deferred()), deque.append)

    def runNow(self, key, job, *args):
        """
        As ``runOverlapping``; but on an idle lane the job runs now, and if
        it finished before this returns, its outcome is returned as is (a
        Failure if it raised) instead of a Deferred. Anything queued for
        ``key`` while it runs waits for it.
        """
        queues = self._queues
        if key in queues or not self._runsInline:
            return self.runOverlapping(key, job, *args)
        # What _pump and the first turn of _pumpLoop do for this job, in
        # one frame: nearly every live message comes this way. The job's
        # item only holds its place at the head of the queue (for letGo,
        # and so that what is queued meanwhile waits); nothing runs it
        # from there. The queue and the job's state are the ones the last
        # such job left unused (nothing refers to them once it ended its
        # lane at once) rather than three objects made and freed for every
        # message.
        spare = self._spare
        if spare is None:
            queue, state, pending = deque(), _JobState(), _Pending()
        else:
            self._spare = None
            queue, state, pending = spare
        queue.append((job, args, pending))
        queues[key] = queue
        overlapping = self._overlapping
        overlapping[key] = state
        self._blocked.discard(key)
        # The lane is not marked as pumped while the job runs: only a job
        # that lets go needs it (so that what is queued behind it waits for
        # this frame), and letGo marks it then.
        try:
            outcome = job(*args)
        except BaseException:
            outcome = failure.Failure()
        else:
            if outcome is not None and type(outcome) is CoroutineType:
                outcome = defer.Deferred.fromCoroutine(outcome)
        if not state.gone and (outcome is None or not isinstance(outcome, defer.Deferred)):
            # _done and _settle for a job that finished at once without
            # letting go: its item is still the head of the queue.
            if overlapping.get(key) is state:
                del overlapping[key]
            queue.popleft()
            if not queue:
                # Nothing queued meanwhile, nothing unfinished (the job did
                # not let go): the lane ends here, as after every live
                # message, and its state is as it was made, for the next.
                del queues[key]
                self._spare = spare if spare is not None else (queue, state, pending)
                return outcome
            state.calling = False
            state.finished = True
            pending.outcome = outcome
        pumping = self._pumping
        pumping.add(key)
        try:
            if pending.outcome is not _NOT_RUN:
                pass
            elif isinstance(outcome, defer.Deferred):
                outcome.addBoth(self._done, key, state)
                state.calling = False
                if state.finished:
                    self._settle(key, state.outcome)
            else:
                self._done(outcome, key, state)
                state.calling = False
            if queue and (state.gone or state.finished):
                # What was queued while it ran goes on now.
                self._pumpLoop(key)
        finally:
            pumping.discard(key)
        if not queue and key not in self._unfinished:
            del queues[key]
        if pending.outcome is not _NOT_RUN:
            return pending.outcome
        pending.deferred = defer.Deferred()
        return pending.deferred

    def letGo(self, key):
        """
        From the overlapping job running in ``key``'s lane: the lane's next
        job may start. Nothing when called from any other job, or on lanes
        that never overlap jobs (a cluster's, which must hold the account's
        lock until each job finished).
        """
        state = self._overlapping.pop(key, None)
        if state is None:
            return
        state.gone = True
        _job, _args, state.result = self._queues[key].popleft()
        self._unfinished.setdefault(key, []).append(state.result)
        if not state.calling:
            self._pump(key)
        else:
            # Inside runNow's job: what is queued from now on waits for it
            # to return (a pump's job has the lane marked already).
            self._pumping.add(key)

    def runNext(self, key, job, *args):
        """
        As ``run``, but ahead of every job still waiting: for stanzas that
        were already routed once (a session left with them) and must keep
        their place before messages that arrived after them.
        """
        def behindRunning(queue, item):
            queue.insert(0 if key in self._blocked else 1, item)
        return self._enqueue(key, (job, args, defer.Deferred()), behindRunning)

    def busy(self, key):
        return key in self._queues

    def _enqueue(self, key, item, place):
        queue = self._queues.get(key)
        if queue is not None:
            # Empty, outside the pump, while jobs that let it go run on:
            # nothing else would start this one. (Empty while a job's
            # result fires, the pump that fires it goes on by itself: a
            # subclass's pump, the cluster's, never overlaps jobs.)
            idle = not queue and key in self._unfinished and key not in self._pumping
            place(queue, item)
            if idle:
                self._pump(key)
            return item[2]
        self._queues[key] = deque([item])
        self._pump(key)
        return item[2]

    def _pump(self, key):
        self._pumping.add(key)
        try:
            self._pumpLoop(key)
        finally:
            self._pumping.discard(key)
        if not self._queues[key] and key not in self._unfinished:
            del self._queues[key]

    def _pumpLoop(self, key):
        queue = self._queues[key]
        while queue:
            job, args, _ = queue[0]
            overlapping = isinstance(job, _Overlapping)
            if not overlapping and key in self._unfinished:
                # The last of them to finish pumps again (_done).
                self._blocked.add(key)
                return
            self._blocked.discard(key)
            state = _JobState()
            if overlapping:
                self._overlapping[key] = state
            outcome = _call(job, args)
            if isinstance(outcome, defer.Deferred):
                outcome.addBoth(self._done, key, state)
            else:
                self._done(outcome, key, state)
            state.calling = False
            if state.gone:
                continue
            if not state.finished:
                return
            self._settle(key, state.outcome)

    def _done(self, outcome, key, state):
        if self._overlapping.get(key) is state:
            del self._overlapping[key]
        if state.gone:
            unfinished = self._unfinished[key]
            unfinished.remove(state.result)
            if not unfinished:
                del self._unfinished[key]
            # What the result's callbacks queue here waits for _resume: the
            # lane may have nothing unfinished left, and nothing else would
            # start it.
            pumping = key in self._pumping
            self._pumping.add(key)
            try:
                _fire(state.result, outcome)
            finally:
                if not pumping:
                    self._pumping.discard(key)
            self._resume(key)
        elif state.calling:
            state.finished, state.outcome = True, outcome
        else:
            # It finished later: go on from this fresh stack.
            self._pumping.add(key)
            try:
                self._settle(key, outcome)
            finally:
                self._pumping.discard(key)
            self._pump(key)

    def _resume(self, key):
        """
        A job that let the lane go finished: the lane goes on with what
        waits in it (a job behind the unfinished ones, or one queued as
        their results fired), or ends.
        """
        queue = self._queues.get(key)
        if queue is None or key in self._pumping:
            return
        if queue:
            # Unless its first job is an overlapping one still running
            # (the pump loop decides whether a plain one may start).
            if key not in self._overlapping:
                self._pump(key)
        elif key not in self._unfinished:
            del self._queues[key]

    def _settle(self, key, outcome):
        _, _, result = self._queues[key].popleft()
        _fire(result, outcome)


def _fire(result, outcome):
    if type(result) is _Pending:
        if result.deferred is None:
            # runNow has not returned yet: it returns the outcome itself.
            result.outcome = outcome
            return
        result = result.deferred
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


# The outcome of a runNow job that has not finished.
_NOT_RUN = object()


class _Pending:
    """
    The result of a ``runNow`` job: its outcome, if it finished before
    runNow returned, else the Deferred runNow returned.
    """

    outcome = _NOT_RUN
    deferred = None


class _JobState:
    # Slots: read by runNow for every live message.
    __slots__ = ("calling", "finished", "outcome", "gone", "result")

    def __init__(self):
        self.calling = True
        self.finished = False
        self.outcome = None
        self.gone = False
        self.result = None


class _Overlapping:
    """A job of ``runOverlapping``, called as the job itself."""

    def __init__(self, job):
        self.job = job

    def __call__(self, *args):
        return self.job(*args)
