"""
The out-of-process server the reliability tests stand on: twistd xmppd in
its own process, killed with SIGKILL and restarted on the same database,
config tables it does not know left out only when asked for as optional.
"""

from tests.aio import asyncioTest
from tests.reliability.common import (
    Tally,
    connect,
    logout,
    relogin,
    sendMessages,
    waitStored,
)


@asyncioTest
async def test_messages_stored_before_a_sigkill_arrive_after_the_restart(xmppd_process):
    target = await xmppd_process()
    pid = target.process.pid
    tally = Tally("restart")
    alice = await connect(target, await target.account("alice"), "desk")
    await sendMessages(alice, target, "bob", tally, 20)
    assert await waitStored(target, "bob", 20, timeout=10) == 20
    await target.kill()
    assert target.process.process.returncode == -9
    await target.restart()
    assert target.process.pid != pid
    assert await target.storedCount("bob") == 20
    await relogin(target, await target.account("bob"), tally)
    assert tally.result()["delivered"] == 20, tally.result()
    assert tally.duplicated == 0
    await logout(alice)


@asyncioTest
async def test_optional_config_is_written_only_when_the_server_knows_it(xmppd_process):
    target = await xmppd_process(
        config={"c2s": {"ping_timeout": "5s"}},
        optional={"modules.no_such_module": {"resume_timeout": "2s"},
                  "c2s": {"idle_timeout": "7s"}})
    assert target.process.optionalAccepted == {"c2s": {"idle_timeout": "7s"}}
    with open(target.process.configPath) as f:
        written = f.read()
    assert 'idle_timeout = "7s"' in written and 'ping_timeout = "5s"' in written
    assert "no_such_module" not in written
