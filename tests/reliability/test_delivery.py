"""
Issue 10, without stream management: a message xmppd accepted is delivered
or stored, never lost -- whatever the recipient's client does with its
connection. xmppd runs in its own process (tests/reliability/procserver.py)
so that a client that stops reading, closes half-way or resets really
looks so to the server; each scenario (tests/reliability/scenarios.py)
counts what was sent, delivered, duplicated and lost, on SQLite and on
MariaDB.

Without XEP-0198 delivery is at least once: stored messages are deleted
when the client answered the ping that follows their batch, so a
connection that dies first may get that one batch again (never more).
"""

from tests.aio import asyncioTest
from tests.reliability import scenarios

IDLE = {"c2s": {"idle_timeout": "1s", "ping_timeout": "1s"}}
# idle_timeout + ping_timeout, and time for the server to act on it.
GIVE_UP = 1 + 1 + 3


@asyncioTest
async def test_a_message_sent_as_the_recipient_logs_out_reaches_his_next_login(xmppd_process):
    # Issue 10, scenario 1, 10 tries: 3 stored, login, logout once the
    # delivery is over, one more message, login again.
    target = await xmppd_process()
    figures = await scenarios.logoutAfterOfflineDelivery(target, deterministic=False)
    assert figures["sent"] == 40
    assert (figures["lost"], figures["duplicated"]) == (0, 0), figures


@asyncioTest
async def test_a_message_routed_while_the_recipients_stream_closes_is_stored(xmppd_process):
    # (a): alice's message is read after bob's </stream:stream> and before
    # his client hangs up, 10 times.
    target = await xmppd_process()
    figures = await scenarios.logoutAfterOfflineDelivery(target, deterministic=True)
    assert figures["sent"] == 40
    assert (figures["lost"], figures["duplicated"]) == (0, 0), figures


@asyncioTest
async def test_messages_to_a_client_that_closed_its_stream_and_stopped_reading_are_stored(
        xmppd_process):
    # (b)
    target = await xmppd_process()
    figures = await scenarios.closeThenStopReading(target)
    assert figures["sent"] == 10
    assert (figures["lost"], figures["duplicated"]) == (0, 0), figures


@asyncioTest
async def test_presence_and_stream_close_in_one_write_lose_no_stored_message(xmppd_process):
    # (c): what reached the closing stream was never acknowledged, so it
    # may come again at the next login: at most that one batch, per try.
    target = await xmppd_process()
    figures = await scenarios.presenceAndCloseInOneWrite(target, stored=5)
    assert figures["sent"] == 50
    assert figures["lost"] == 0, figures
    assert figures["worstRoundDuplicated"] <= min(5, target.batch), figures


@asyncioTest
async def test_messages_to_a_client_frozen_past_idle_timeout_are_stored(xmppd_process):
    # (d)
    target = await xmppd_process(config=IDLE)
    figures = await scenarios.frozenPastIdleTimeout(target, timeout=GIVE_UP)
    assert figures["sent"] == 20
    assert figures["lost"] == 0, figures
    # The 10 written to the frozen stream were never acknowledged: they may
    # come again (one batch); the 10 sent after the server gave up may not.
    assert figures["duplicated"] <= min(10, target.batch), figures
    assert figures["duplicatedAfterRelease"] == 0, figures


@asyncioTest
async def test_messages_to_a_client_process_stopped_past_idle_timeout_arrive_once(xmppd_process):
    # (d) with SIGSTOP: the frozen process never reads what was written to it.
    target = await xmppd_process(config=IDLE)
    figures = await scenarios.processStoppedPastIdleTimeout(target, timeout=GIVE_UP)
    assert figures["releasedAfterTimeout"], figures
    assert figures["sent"] == 20
    assert (figures["lost"], figures["duplicated"]) == (0, 0), figures


@asyncioTest
async def test_a_live_message_right_after_initial_presence_is_delivered(xmppd_process):
    # (e)
    target = await xmppd_process()
    figures = await scenarios.liveMessageRightAfterLogin(target)
    assert figures["sent"] == 40
    assert (figures["lost"], figures["duplicated"]) == (0, 0), figures


@asyncioTest
async def test_a_connection_lost_after_200_of_1500_stored_messages_loses_none(xmppd_process):
    # Issue 10, scenario 2: the phone stops reading at 200 and its
    # connection goes without a stream close; at most one batch twice.
    target = await xmppd_process()
    figures = await scenarios.connectionDiesMidDrain(target, reset=False)
    assert figures["storedBefore"] == 1500, figures
    assert figures["lost"] == 0, figures
    assert figures["duplicated"] <= target.batch, figures


@asyncioTest
async def test_a_tcp_reset_in_the_middle_of_a_1500_message_drain_loses_none(xmppd_process):
    # (f) without stream management: RST (SO_LINGER 0) at 200.
    target = await xmppd_process()
    figures = await scenarios.connectionDiesMidDrain(target, reset=True)
    assert figures["storedBefore"] == 1500, figures
    assert figures["lost"] == 0, figures
    assert figures["duplicated"] <= target.batch, figures
