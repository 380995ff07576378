"""
The documentation is executable: the config reference is regenerated from
the schemas, and the operator's walkthrough is run as written.
"""

import os
import re
import signal
import socket
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPERATORS = os.path.join(REPO, "docs", "operators.md")


def test_config_reference_matches_the_schemas():
    result = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "config-reference"),
                             "--check"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def walkthrough():
    with open(OPERATORS, encoding="utf-8") as f:
        text = f.read()
    match = re.search(r"<!-- operator-walkthrough -->\n```sh\n(.*?)```", text, re.S)
    assert match, "docs/operators.md lost its walkthrough block"
    return match.group(1)


def freePort():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_operator_walkthrough_runs_as_written(tmp_path):
    env = dict(os.environ, PREFIX=str(tmp_path / "venv"), ETC=str(tmp_path / "etc"),
               DATA=str(tmp_path / "data"), HOST="localhost",
               C2S_PORT=str(freePort()), METRICS_PORT=str(freePort()))
    env.pop("PYTHONPATH", None)
    script = tmp_path / "walkthrough.sh"
    script.write_text(walkthrough())
    try:
        result = subprocess.run(["bash", str(script)], cwd=REPO, env=env, capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.splitlines()[-1] == "xmppd_offline_stored_total 0.0"
        config = (tmp_path / "etc" / "xmppd.toml").read_text()
        assert 'certificate = "%s"' % (tmp_path / "etc" / "fullchain.pem") in config
        users = subprocess.run([str(tmp_path / "venv" / "bin" / "xmppctl"), "--config",
                                str(tmp_path / "etc" / "xmppd.toml"), "users"],
                               capture_output=True, text=True, env=env, timeout=60)
        assert users.stdout.split() == ["admin@localhost"]
    finally:
        pidFile = tmp_path / "data" / "xmppd.pid"
        if pidFile.exists():
            os.kill(int(pidFile.read_text()), signal.SIGTERM)
