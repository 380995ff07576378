"""
Login throttling across connections: failed SASL attempts are counted per
IP address and per account over a window; past the allowance each further
answer comes ever later. An address over it waits for a success too, an
account does not, so its owner is never locked out. Every SASL failure the
client causes counts, ``encryption-required`` and ``incorrect-encoding``
included.
"""

import asyncio
import time

from twisted.python import log

from tests.aio import asyncioTest, wait
from tests.c2s.hostile import assertServesAnotherClient, hostileServer
from tests.c2s.test_sasl import failureCondition
from tests.rawclient import NS_SASL, RawClient, q

AT_ONCE = 0.5


async def attempt(server, source, username, password):
    """One PLAIN attempt on a new connection: (answer element, seconds to answer)."""
    client = await RawClient.connect(server.port, source=source)
    await client.open()
    await client.starttls()
    started = time.monotonic()
    result = await client.authenticate(username, password, "PLAIN")
    elapsed = time.monotonic() - started
    client.abort()
    return result, elapsed


async def failedAttempt(server, source, username):
    result, elapsed = await attempt(server, source, username, "guess")
    assert failureCondition(result) == "not-authorized"
    return elapsed


def throttleLines(logged):
    return [" ".join(e["message"]) for e in logged
            if "login throttled" in " ".join(e.get("message", ()))]


@asyncioTest
async def test_failures_from_one_address_are_answered_ever_later_and_the_owner_logs_in_at_once(
        make_database, tmp_path):
    server = await hostileServer(make_database, tmp_path, login_failures_before_delay=1,
                                 login_failure_max_delay="2s")
    await wait(server.addUser("bob", "secret-bob"))
    logged = []
    log.addObserver(logged.append)
    try:
        # mallory, at 127.0.0.2, guesses alice's password on new connections.
        assert await failedAttempt(server, "127.0.0.2", "alice") < AT_ONCE
        assert await failedAttempt(server, "127.0.0.2", "alice") >= 1
        third = asyncio.ensure_future(failedAttempt(server, "127.0.0.2", "alice"))
        # Meanwhile alice herself, elsewhere, logs in at once.
        await assertServesAnotherClient(server, "alice", "secret-alice", source="127.0.0.1")
        assert not third.done()
        assert await third >= 2
        # The address is throttled: even the right password waits.
        result, elapsed = await attempt(server, "127.0.0.2", "alice", "secret-alice")
        assert result.tag == q(NS_SASL, "success") and elapsed >= 2
        # The account is throttled from any address, for failures only; an
        # account nobody guessed at is not.
        assert await failedAttempt(server, "127.0.0.3", "alice") >= 2
        assert await failedAttempt(server, "127.0.0.4", "bob") < AT_ONCE
        assert throttleLines(logged) == [
            "c2s 127.0.0.2: login throttled, SASL answers delayed (1s)",
            "c2s 127.0.0.2: login throttled, SASL answers delayed (2s)",
            "c2s 127.0.0.2: login throttled, SASL answers delayed (2s)",
            "c2s 127.0.0.3: login throttled, SASL answers delayed (2s)"]
    finally:
        log.removeObserver(logged.append)
        await wait(server.stop())


@asyncioTest
async def test_a_delayed_failure_holds_back_what_the_client_pipelines(make_database, tmp_path):
    server = await hostileServer(make_database, tmp_path, login_failures_before_delay=0,
                                 login_failure_max_delay="2s", max_auth_attempts=2)
    try:
        client = await RawClient.connect(server.port, source="127.0.0.2")
        await client.open()
        await client.starttls()
        started = time.monotonic()
        client.sendRaw("<auth xmlns='%s' mechanism='X-NONE'/>" % NS_SASL * 2)
        assert failureCondition(await client.expect()) == "invalid-mechanism"
        assert failureCondition(await client.expect()) == "invalid-mechanism"
        await client.expectStreamError("policy-violation")
        # 1 s for the first failure, then 2 s for the second: not in parallel.
        assert time.monotonic() - started >= 3
        await assertServesAnotherClient(server, source="127.0.0.1")
    finally:
        await wait(server.stop())


@asyncioTest
async def test_encryption_required_and_incorrect_encoding_count_as_failed_attempts(
        make_database, tmp_path):
    server = await hostileServer(make_database, tmp_path, max_auth_attempts=3)
    try:
        plaintext = await RawClient.connect(server.port)
        await plaintext.open()
        for _ in range(3):
            plaintext.sendRaw("<auth xmlns='%s' mechanism='SCRAM-SHA-256'>=</auth>" % NS_SASL)
            assert failureCondition(await plaintext.expect()) == "encryption-required"
        await plaintext.expectStreamError("policy-violation")

        encrypted = await RawClient.connect(server.port)
        await encrypted.open()
        await encrypted.starttls()
        for _ in range(3):
            encrypted.sendRaw("<auth xmlns='%s' mechanism='PLAIN'>!!notbase64</auth>" % NS_SASL)
            assert failureCondition(await encrypted.expect()) == "incorrect-encoding"
        await encrypted.expectStreamError("policy-violation")
        await assertServesAnotherClient(server)
    finally:
        await wait(server.stop())
