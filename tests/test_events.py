"""
The event bus: handlers in priority order, the first non-None answer wins,
and a suspended handler is skipped until resumed, in its place.
"""

from xmppd.events import EventBus


def recorder(calls, name, answer=None):
    def handler(*args):
        calls.append((name,) + args)
        return answer
    return handler


def test_handlers_run_by_priority_until_one_answers():
    bus, calls = EventBus(), []
    bus.hook("e", recorder(calls, "low"), -10)
    bus.hook("e", recorder(calls, "high", "taken"), 10)
    bus.hook("e", recorder(calls, "never"), -20)
    assert bus.fire("e", 1) == "taken"
    assert calls == [("high", 1)]


def test_a_suspended_handler_is_skipped_and_resumed_in_its_place():
    bus, calls = EventBus(), []
    first, second, third = (recorder(calls, n) for n in ("first", "second", "third"))
    bus.hook("e", first)
    bus.hook("e", second)
    bus.hook("e", third)
    bus.suspend("e", second)
    bus.suspend("e", second)
    assert bus.fire("e", "x") is None
    assert calls == [("first", "x"), ("third", "x")]
    bus.resume("e", second)
    del calls[:]
    bus.fire("e", "y")
    assert calls == [("first", "y"), ("second", "y"), ("third", "y")]


def test_an_event_whose_handlers_are_all_suspended_calls_none_and_unhook_forgets_them():
    bus, calls = EventBus(), []
    only = recorder(calls, "only", "taken")
    bus.hook("e", only)
    bus.suspend("e", only)
    assert bus.fire("e") is None and calls == []
    bus.unhook("e", only)
    # Neither hooked nor suspended any more: hooking it again calls it.
    bus.resume("e", only)
    assert bus.fire("e") is None
    bus.hook("e", only)
    assert bus.fire("e") == "taken"
    # Suspending what is not hooked changes nothing.
    bus.suspend("e", recorder(calls, "stranger"))
    assert bus.fire("e") == "taken"
