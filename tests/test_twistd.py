"""
``twistd xmppd`` as operators run it: a separate process, its own config,
a generated certificate, and a real client logging in.
"""

import asyncio
import os
import socket
import subprocess
import sys

from tests.aio import asyncioTest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, PYTHONPATH=REPO)
TWISTD = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]


def freePort():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def writeConfig(tmp_path, port):
    config = tmp_path / "xmppd.toml"
    config.write_text('[server]\ndata_dir = "%s"\n\n[c2s]\ninterface = "127.0.0.1"\n'
                      'port = %d\n' % (tmp_path / "data", port))
    return config


async def waitForListening(process, port, log=None):
    """Read twistd's log until the c2s factory reports it is listening."""
    while True:
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        assert line, "twistd exited before listening"
        if log is not None:
            log.append(line)
        if b" starting on %d" % port in line:
            return


@asyncioTest
async def test_twistd_xmppd_runs_and_a_client_logs_in(tmp_path):
    from tests.c2s.test_slixmpp import connected
    port = freePort()
    config = writeConfig(tmp_path, port)
    password = tmp_path / "pw"
    password.write_text("s3cret\n")
    subprocess.run([sys.executable, "-m", "xmppd.ctl", "-c", str(config), "adduser",
                    "dave@localhost", "--password-file", str(password)],
                   check=True, env=ENV, cwd=tmp_path, capture_output=True)
    process = await asyncio.create_subprocess_exec(
        *TWISTD, "--nodaemon", "--pidfile=", "--logfile=-",
        "xmppd", "--config", str(config),
        cwd=tmp_path, env=ENV, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        await waitForListening(process, port)
        assert (tmp_path / "data" / "self-signed-cert.pem").exists()
        # The database (SCRAM keys), the TLS key and the install secret are
        # the server user's alone.
        data = tmp_path / "data"
        assert os.stat(data).st_mode & 0o777 == 0o700
        for name in ("xmppd.sqlite", "self-signed-key.pem", "install-secret"):
            assert os.stat(data / name).st_mode & 0o777 == 0o600, name
        client = await connected(port, "dave@localhost/cli", "s3cret")
        assert client.boundjid.full == "dave@localhost/cli"
        client.disconnect()
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.wait(), 30)


@asyncioTest
async def test_twistd_xmppd_runs_on_memory_storage_and_writes_no_database(tmp_path):
    port = freePort()
    config = writeConfig(tmp_path, port)
    config.write_text(config.read_text() + '\n[storage]\nbackend = "memory"\n')
    refused = subprocess.run([sys.executable, "-m", "xmppd.ctl", "-c", str(config), "users"],
                             env=ENV, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1
    assert refused.stderr.startswith('xmppctl: storage.backend = "memory": ')
    process = await asyncio.create_subprocess_exec(
        *TWISTD, "--nodaemon", "--pidfile=", "--logfile=-",
        "xmppd", "--config", str(config),
        cwd=tmp_path, env=ENV, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        await waitForListening(process, port)
        assert not (tmp_path / "data" / "xmppd.sqlite").exists()
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.wait(), 30)


def test_bad_config_stops_twistd_with_one_line(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('[storage]\nbackend = "pgsql"\n')
    result = subprocess.run(TWISTD + ["--nodaemon", "--pidfile=", "xmppd", "--config", str(config)],
                            capture_output=True, text=True, env=ENV, cwd=tmp_path, timeout=60)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        'xmppd: storage.backend = "pgsql": expected one of "sqlite", "mysql", "memory"']


@asyncioTest
async def test_twistd_direct_tls_port_selects_alpn_and_logs_a_failed_handshake_on_one_line(
        tmp_path):
    from tests.rawclient import NS_SASL, RawClient, q
    port, directPort = freePort(), freePort()
    config = writeConfig(tmp_path, port)
    config.write_text(config.read_text() + "direct_tls_port = %d\n" % directPort)
    password = tmp_path / "pw"
    password.write_text("s3cret\n")
    subprocess.run([sys.executable, "-m", "xmppd.ctl", "-c", str(config), "adduser",
                    "dave@localhost", "--password-file", str(password)],
                   check=True, env=ENV, cwd=tmp_path, capture_output=True)
    process = await asyncio.create_subprocess_exec(
        *TWISTD, "--nodaemon", "--pidfile=", "--logfile=-",
        "xmppd", "--config", str(config),
        cwd=tmp_path, env=ENV, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        startup = []
        await waitForListening(process, port, startup)
        await waitForListening(process, directPort, startup)
        dave = await RawClient.connectDirectTLS(directPort, alpn=["xmpp-client"])
        await dave.open()
        assert dave.alpnSelected() == "xmpp-client"
        assert (await dave.authenticate("dave", "s3cret")).tag == q(NS_SASL, "success")
        await dave.close()

        reader, writer = await asyncio.open_connection("127.0.0.1", directPort)
        localPort = writer.get_extra_info("sockname")[1]
        writer.write(b"<?xml version='1.0'?><stream:stream to='localhost'>")
        assert await asyncio.wait_for(reader.read(), 30) == b""
        writer.close()
        lines = []
        while not any(b"TLS handshake with" in line for line in lines):
            lines.append(await asyncio.wait_for(process.stdout.readline(), 30))
            assert lines[-1], "twistd exited"
        process.terminate()
        rest, _ = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.wait(), 30)
    log = b"".join(lines) + rest
    failures = [line for line in log.decode().splitlines() if "TLS handshake with" in line]
    assert len(failures) == 1, failures
    assert failures[0].endswith("TLS handshake with 127.0.0.1:%d failed: wrong version number"
                                % localPort), failures[0]
    assert "Traceback" not in log.decode()
