"""scripts/disco-features against a running server, as the docs use it."""

import asyncio
import os
import sys

from tests.aio import asyncioTest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@asyncioTest
async def test_disco_features_lists_what_the_server_advertises(xmpp, tmp_path):
    password = tmp_path / "pw"
    password.write_text("secret-alice\n")
    process = await asyncio.create_subprocess_exec(
        sys.executable, os.path.join(REPO, "scripts", "disco-features"),
        "--jid", "alice@localhost", "--password-file", str(password),
        "--port", str(xmpp.port), "--insecure",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert lines[0].startswith("server: xmppd ")
    assert "identity: server/im (xmppd)" in lines
    features = {line.split(": ", 1)[1] for line in lines if line.startswith("feature: ")}
    assert {"urn:xmpp:ping", "jabber:iq:version", "msgoffline",
            "http://jabber.org/protocol/amp"} <= features
