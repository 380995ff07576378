"""
An account's lane runs its jobs one at a time, in arrival order, whether a
job finishes at once (a live delivery, run inline by ``runNow`` with no
Deferred) or waits on storage.
"""

from twisted.internet import defer
from twisted.python.failure import Failure

from xmppd.lanes import Lanes


def test_a_job_on_an_idle_lane_runs_now_and_gives_its_result_as_is():
    lanes = Lanes()
    assert lanes.runNow("bob", lambda x: x * 2, 21) == 42
    assert not lanes.busy("bob")
    failed = lanes.runNow("bob", lambda: 1 / 0)
    assert isinstance(failed, Failure) and failed.check(ZeroDivisionError)
    assert not lanes.busy("bob")


def test_a_job_behind_a_waiting_one_waits_for_it():
    lanes, order = Lanes(), []
    storing = defer.Deferred()
    first = lanes.runNow("bob", lambda: storing)
    assert isinstance(first, defer.Deferred) and lanes.busy("bob")
    second = lanes.runNow("bob", order.append, "live")
    assert isinstance(second, defer.Deferred) and order == []
    # Another account's lane is not held up.
    assert lanes.runNow("alice", order.append, "alice") is None
    storing.callback("stored")
    assert order == ["alice", "live"]
    assert first.result == "stored" and second.called
    assert not lanes.busy("bob")


def test_what_a_running_job_queues_runs_after_it_in_order():
    lanes, order = Lanes(), []

    def job():
        order.append("job")
        lanes.run("bob", order.append, "queued")
        lanes.runNext("bob", order.append, "left behind")
        order.append("job done")
        return "routed"

    outcome = lanes.runNow("bob", job)
    assert order == ["job", "job done", "left behind", "queued"]
    # It finished at once: its outcome as is, though others ran behind it.
    assert outcome == "routed"
    assert not lanes.busy("bob")


def test_a_coroutine_job_keeps_the_lane_until_it_ends():
    lanes, order = Lanes(), []
    waiting = defer.Deferred()

    async def job():
        await waiting
        order.append("coroutine")

    outcome = lanes.runNow("bob", job)
    lanes.run("bob", order.append, "after")
    assert order == [] and lanes.busy("bob")
    waiting.callback(None)
    assert order == ["coroutine", "after"] and outcome.called


def test_a_lane_with_a_pump_of_its_own_is_always_pumped():
    class LockedLanes(Lanes):
        pumped = 0

        def _pump(self, key, *args):
            LockedLanes.pumped += 1
            Lanes._pump(self, key, *args)

    outcome = LockedLanes().runNow("bob", lambda: "routed")
    assert isinstance(outcome, defer.Deferred) and outcome.result == "routed"
    assert LockedLanes.pumped == 1


def test_a_live_job_that_lets_go_lets_overlapping_jobs_on_and_holds_the_rest():
    lanes, order = Lanes(), []
    storing = defer.Deferred()

    def store():
        order.append("store")
        lanes.letGo("bob")
        return storing

    first = lanes.runNow("bob", store)
    second = lanes.runNow("bob", order.append, "overlapping")
    delivery = lanes.run("bob", order.append, "delivery")
    assert order == ["store", "overlapping"] and second.called and not delivery.called
    assert not first.called and lanes.busy("bob")
    storing.callback("stored")
    assert order == ["store", "overlapping", "delivery"]
    assert first.result == "stored" and delivery.called
    assert not lanes.busy("bob")


def test_a_live_job_that_lets_go_and_finishes_at_once_gives_its_outcome_as_is():
    lanes, order = Lanes(), []

    def job():
        lanes.letGo("bob")
        lanes.run("bob", order.append, "queued")
        order.append("job")
        return "done"

    assert lanes.runNow("bob", job) == "done"
    assert order == ["job", "queued"]
    assert not lanes.busy("bob")


def test_a_live_job_whose_deferred_fired_already_gives_its_result_as_is():
    lanes = Lanes()
    assert lanes.runNow("bob", defer.succeed, "stored") == "stored"
    failed = lanes.runNow("bob", defer.fail, ValueError("no"))
    assert isinstance(failed, Failure) and failed.check(ValueError)
    assert not lanes.busy("bob")
