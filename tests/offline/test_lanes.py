"""
The account lanes (xmppd.lanes) with overlapping jobs: a stored message's
job lets the lane go on once its insert is queued, the next stores start
at once, and anything else (a delivery) still waits until every job ahead
of it has finished; each job's result fires when that job finished.
"""

from twisted.internet import defer

from xmppd.lanes import Lanes


class Jobs:
    """Jobs whose ends the test fires by hand, with a log of what started."""

    def __init__(self, lanes, key="a@example.org"):
        self.lanes = lanes
        self.key = key
        self.started = []
        self.ends = {}

    def store(self, name, letGo=True):
        def job():
            self.started.append(name)
            end = self.ends[name] = defer.Deferred()
            if letGo:
                self.lanes.letGo(self.key)
            return end
        return self.lanes.runOverlapping(self.key, job)

    def other(self, name, run=None):
        def job():
            self.started.append(name)
            end = self.ends[name] = defer.Deferred()
            return end
        return (run or self.lanes.run)(self.key, job)


def fired(d):
    results = []
    d.addBoth(results.append)
    return results


def test_stores_that_let_go_run_together_and_each_result_waits_for_its_own_end():
    lanes = Lanes()
    jobs = Jobs(lanes)
    first, second, third = (fired(jobs.store(n)) for n in ("s1", "s2", "s3"))
    assert jobs.started == ["s1", "s2", "s3"]
    jobs.ends["s2"].callback("stored 2")
    assert (first, second, third) == ([], ["stored 2"], [])
    jobs.ends["s1"].callback("stored 1")
    jobs.ends["s3"].callback("stored 3")
    assert (first, third) == (["stored 1"], ["stored 3"])
    assert not lanes.busy(jobs.key)


def test_a_plain_job_waits_until_every_store_ahead_of_it_finished():
    lanes = Lanes()
    jobs = Jobs(lanes)
    jobs.store("s1")
    jobs.store("s2")
    delivery = fired(jobs.other("deliver"))
    after = fired(jobs.store("s3"))
    assert jobs.started == ["s1", "s2"]
    jobs.ends["s1"].callback(None)
    assert jobs.started == ["s1", "s2"]
    jobs.ends["s2"].callback(None)
    assert jobs.started == ["s1", "s2", "deliver"]
    # Behind the delivery, the next store waits for it as before.
    jobs.ends["deliver"].callback("delivered")
    assert delivery == ["delivered"] and jobs.started[-1] == "s3"
    jobs.ends["s3"].callback("stored")
    assert after == ["stored"] and not lanes.busy(jobs.key)


def test_a_store_that_does_not_let_go_holds_the_lane_until_it_finished():
    lanes = Lanes()
    jobs = Jobs(lanes)
    jobs.store("s1", letGo=False)
    jobs.store("s2")
    assert jobs.started == ["s1"]
    jobs.ends["s1"].callback(None)
    assert jobs.started == ["s1", "s2"]


def test_letting_go_from_a_plain_job_changes_nothing():
    lanes = Lanes()
    jobs = Jobs(lanes)
    jobs.other("plain")
    jobs.store("s1")
    lanes.letGo(jobs.key)
    assert jobs.started == ["plain"]
    jobs.ends["plain"].callback(None)
    assert jobs.started == ["plain", "s1"]


def test_a_job_queued_while_the_lane_only_waits_on_stores_starts_at_once():
    lanes = Lanes()
    jobs = Jobs(lanes)
    jobs.store("s1")
    assert lanes.busy(jobs.key)
    jobs.store("s2")
    assert jobs.started == ["s1", "s2"]
    late = fired(jobs.other("deliver"))
    jobs.ends["s2"].callback(None)
    jobs.ends["s1"].callback(None)
    assert jobs.started[-1] == "deliver"
    jobs.ends["deliver"].callback("done")
    assert late == ["done"] and not lanes.busy(jobs.key)


def test_run_next_goes_ahead_of_a_job_waiting_on_stores():
    lanes = Lanes()
    jobs = Jobs(lanes)
    jobs.store("s1")
    jobs.other("deliver")
    jobs.other("rerouted", run=lanes.runNext)
    jobs.ends["s1"].callback(None)
    assert jobs.started == ["s1", "rerouted"]
    jobs.ends["rerouted"].callback(None)
    assert jobs.started == ["s1", "rerouted", "deliver"]


def test_a_failed_store_fails_its_own_result_only():
    lanes = Lanes()
    jobs = Jobs(lanes)
    first = fired(jobs.store("s1"))
    second = fired(jobs.store("s2"))
    jobs.ends["s1"].errback(RuntimeError("database down"))
    jobs.ends["s2"].callback("stored")
    assert first[0].check(RuntimeError) and second == ["stored"]


def test_a_store_that_lets_go_and_finishes_at_once_leaves_an_idle_lane():
    lanes = Lanes()

    def job():
        lanes.letGo("k")
        return "stored"
    results = [fired(lanes.runOverlapping("k", job)) for _ in range(3)]
    assert results == [["stored"]] * 3
    assert not lanes.busy("k")


def test_a_job_queued_as_the_last_store_ahead_of_it_finishes_starts():
    # The store's result fires with the lane idle but not yet ended: what its
    # callbacks queue (a delivery) is pumped, not left waiting for good.
    lanes = Lanes()
    jobs = Jobs(lanes)
    stored = jobs.store("s1")
    delivery = []
    stored.addCallback(lambda _: delivery.append(fired(jobs.other("deliver"))))
    jobs.ends["s1"].callback("stored")
    assert jobs.started == ["s1", "deliver"]
    jobs.ends["deliver"].callback("delivered")
    assert delivery == [["delivered"]] and not lanes.busy(jobs.key)


def test_a_message_routed_as_the_last_store_ahead_of_it_finishes_is_routed():
    # A sender's next message to the same recipient, parsed when the
    # store before it finished (its intake resumed): routed at once.
    lanes = Lanes()
    jobs = Jobs(lanes)

    def store():
        jobs.started.append("s1")
        end = jobs.ends["s1"] = defer.Deferred()
        lanes.letGo(jobs.key)
        return end
    routed = []
    lanes.runNow(jobs.key, store).addCallback(
        lambda _: lanes.runNow(jobs.key, routed.append, "live"))
    jobs.ends["s1"].callback("stored")
    assert routed == ["live"] and not lanes.busy(jobs.key)
