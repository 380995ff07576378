"""
No account enumeration through SASL: an unknown user's SCRAM challenge looks
like a real account's (a salt per hash, keyed by a per-install secret), and
PLAIN does the same password derivation whether the account exists or not.
"""

import base64
import hashlib
import hmac
import os
import statistics
import time

from tests.aio import asyncioTest, wait
from tests.c2s.hostile import hostileServer
from tests.rawclient import NS_SASL, RawClient, ScramClient, q


async def scramChallenge(server, username, mechanism):
    client = await RawClient.connect(server.port)
    await client.open()
    await client.starttls()
    scram = ScramClient({"SCRAM-SHA-256": "sha256", "SCRAM-SHA-1": "sha1"}[mechanism],
                        username, "guess")
    client.sendRaw("<auth xmlns='%s' mechanism='%s'>%s</auth>" % (
        NS_SASL, mechanism, base64.b64encode(scram.first()).decode()))
    challenge = await client.expect()
    assert challenge.tag == q(NS_SASL, "challenge")
    await client.close()
    attrs = dict(part.split("=", 1)
                 for part in base64.b64decode(challenge.text).decode().split(","))
    return base64.b64decode(attrs["s"]), int(attrs["i"])


@asyncioTest
async def test_unknown_user_gets_a_salt_per_hash_like_a_real_account(make_database, tmp_path):
    server = await hostileServer(make_database, tmp_path)
    try:
        real = [await scramChallenge(server, "alice", m) for m in ("SCRAM-SHA-256", "SCRAM-SHA-1")]
        fake = [await scramChallenge(server, "nobody", m) for m in ("SCRAM-SHA-256", "SCRAM-SHA-1")]
        assert real[0][0] != real[1][0] and fake[0][0] != fake[1][0]
        assert [len(s) for s, _ in fake] == [len(s) for s, _ in real] == [16, 16]
        assert [i for _, i in fake] == [i for _, i in real]
        # Stable, so repeated probes look alike, also across case variants.
        assert await scramChallenge(server, "Nobody", "SCRAM-SHA-256") == fake[0]
        # Not computable from a public constant (the old fake salt).
        public = hmac.new(b"xmppd-unknown-user", b"nobody", hashlib.sha256).digest()[:16]
        assert public not in (fake[0][0], fake[1][0])
    finally:
        await wait(server.stop())


@asyncioTest
async def test_fake_salts_differ_between_installs_and_the_secret_is_private(
        make_database, tmp_path):
    first = await hostileServer(make_database, tmp_path / "one")
    second = await hostileServer(make_database, tmp_path / "two")
    try:
        assert (await scramChallenge(first, "nobody", "SCRAM-SHA-256")
                != await scramChallenge(second, "nobody", "SCRAM-SHA-256"))
        data = tmp_path / "one" / "data"
        assert os.stat(data).st_mode & 0o777 == 0o700
        assert os.stat(data / "install-secret").st_mode & 0o777 == 0o600
    finally:
        await wait(first.stop())
        await wait(second.stop())


async def plainFailureTime(server, username):
    client = await RawClient.connect(server.port)
    await client.open()
    await client.starttls()
    started = time.monotonic()
    result = await client.authenticate(username, "wrong-password", "PLAIN")
    elapsed = time.monotonic() - started
    assert [c.tag for c in result] == [q(NS_SASL, "not-authorized")]
    await client.close()
    return elapsed


@asyncioTest
async def test_plain_takes_as_long_for_an_unknown_user_as_for_a_wrong_password(
        make_database, tmp_path):
    server = await hostileServer(make_database, tmp_path, max_auth_attempts=100)
    try:
        known = statistics.median([await plainFailureTime(server, "alice") for _ in range(5)])
        unknown = statistics.median([await plainFailureTime(server, "nobody") for _ in range(5)])
        # Before: unknown users were answered 5x faster (no PBKDF2).
        assert unknown > 0.6 * known, (known, unknown)
    finally:
        await wait(server.stop())
