"""
twistd's log file is rotated at ``[server] log_rotate_length`` and keeps
``[server] log_rotated_files`` old files: a server whose clients make it
log a lot (here, one stream error each) does not fill its disk.
"""

import asyncio
import time

from tests.aio import asyncioTest
from tests.rawclient import RawClient
from tests.test_twistd import ENV, TWISTD, freePort

CLIENTS = 150


async def connectWhenListening(port, timeout=30):
    """The server is another process: retry until its listener accepts."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await RawClient.connect(port)
        except ConnectionRefusedError:
            assert time.monotonic() < deadline, "twistd never listened"
            await asyncio.sleep(0.1)


@asyncioTest
async def test_twistd_log_keeps_a_bounded_number_of_rotated_files(tmp_path):
    port = freePort()
    config = tmp_path / "xmppd.toml"
    config.write_text('[server]\ndata_dir = "%s"\nlog_rotate_length = "1KiB"\n'
                      'log_rotated_files = 3\n\n[c2s]\ninterface = "127.0.0.1"\nport = %d\n'
                      % (tmp_path / "data", port))
    logs = tmp_path / "logs"
    logs.mkdir()
    process = await asyncio.create_subprocess_exec(
        *TWISTD, "--nodaemon", "--pidfile=", "--logfile=%s" % (logs / "xmppd.log"),
        "xmppd", "--config", str(config), cwd=tmp_path, env=ENV)
    try:
        client = await connectWhenListening(port)
        for n in range(CLIENTS):
            # Each gets not-well-formed, which the server logs (one line)
            # before it sends it.
            await client.open()
            client.sendRaw("<message><</message>")
            await client.expectStreamError("not-well-formed")
            client = await RawClient.connect(port)
        assert sorted(f.name for f in logs.iterdir()) == [
            "xmppd.log", "xmppd.log.1", "xmppd.log.2", "xmppd.log.3"]
        assert "stream error not-well-formed" in (logs / "xmppd.log.3").read_text()
        # Rotated many times over: the start-up lines went with the oldest files.
        assert not any("starting on %d" % port in f.read_text() for f in logs.iterdir())
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.wait(), 30)
