"""
Issue 10 with XEP-0198 stream management (module ``stream_management``):
acknowledged delivery, resumption after a reset, a session left to time
out, resets under load, and a server killed during a store burst. Like
test_delivery.py, xmppd runs in its own process, on SQLite and MariaDB.

These need the server's stream_management module: against a server
without it they fail at the first ``<enable/>`` ("offers no XEP-0198").
"""

from tests.aio import asyncioTest
from tests.reliability import sm_scenarios

RESUME_TIMEOUT = 2
SHORT_RESUME = {"modules.stream_management": {"resume_timeout": "%ds" % RESUME_TIMEOUT}}


@asyncioTest
async def test_a_tcp_reset_in_the_middle_of_a_1500_message_drain_with_sm_loses_none(
        xmppd_process):
    # (f) with SM: only what bob acknowledged may be deleted, so nothing is
    # lost, and nothing he acknowledged comes twice.
    target = await xmppd_process()
    figures = await sm_scenarios.resetMidDrainWithSM(target)
    assert figures["storedBefore"] == 1500, figures
    assert figures["lost"] == 0, figures
    assert figures["duplicatedAcked"] == 0, figures


@asyncioTest
async def test_a_resumed_session_gets_every_unacked_stanza_and_nothing_twice(xmppd_process):
    # (g)
    target = await xmppd_process(optional=SHORT_RESUME)
    figures = await sm_scenarios.resumeAfterReset(target)
    assert figures["resumed"], figures
    assert figures["sent"] == 350
    assert (figures["lost"], figures["duplicated"]) == (0, 0), figures


@asyncioTest
async def test_a_session_left_to_time_out_sends_its_messages_to_offline_storage(xmppd_process):
    # (h): resume_timeout of 2 s; bob's watch resource sees the session go.
    target = await xmppd_process(optional=SHORT_RESUME)
    figures = await sm_scenarios.resumptionTimesOut(target, timeout=RESUME_TIMEOUT + 5)
    assert figures["released"], figures
    assert figures["storedBeforeLogin"] == 30, figures
    assert figures["sent"] == 35
    assert (figures["lost"], figures["duplicated"]) == (0, 0), figures


@asyncioTest
async def test_four_senders_lose_nothing_while_the_recipient_resets_ten_times(xmppd_process):
    # (i): 4 x 500 messages; bob's phone resets and resumes 10 times.
    target = await xmppd_process(optional=SHORT_RESUME)
    figures = await sm_scenarios.resetsUnderLoad(target)
    assert figures["sent"] == 2000
    assert figures["lost"] == 0, figures
    assert figures["duplicatedAcked"] == 0, figures
    if figures["refused"] == 0:
        assert figures["duplicated"] == 0, figures


@asyncioTest
async def test_every_message_acked_to_its_sender_survives_a_sigkill(xmppd_process):
    # (j): SIGKILL once the server acked 600 of 4 x 500; restart on the
    # same database.
    target = await xmppd_process()
    figures = await sm_scenarios.serverKilledDuringStoreBurst(target)
    assert figures["acked"] >= 600, figures
    assert figures["ackedNotStored"] == 0, figures
    assert figures["storedTwice"] == 0, figures
    assert (figures["lost"], figures["duplicated"]) == (0, 0), figures
