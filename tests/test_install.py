"""
Installs as contributors and operators make them: ``pip install -e .`` in a
fresh virtualenv gives both ``twistd xmppd`` and the ``xmppd`` command, and
each starts a server that listens -- with nothing put on PYTHONPATH.
"""

import asyncio
import os
import subprocess
import sys

from tests.aio import asyncioTest
from tests.test_twistd import freePort, waitForListening, writeConfig

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def freshEditableInstall(tmp_path):
    """A new venv with ``pip install -e`` of this checkout; dependencies are
    borrowed from the test venv (a .pth file) so that only xmppd is built."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    here = subprocess.run([sys.executable, "-c",
                           "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    with open(os.path.join(site, "borrowed-deps.pth"), "w") as f:
        f.write(here + "\n")
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", "-e", REPO],
                   check=True, capture_output=True, cwd=tmp_path, env=_cleanEnv())
    return venv


def _cleanEnv():
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


async def startsAndListens(command, tmp_path, port):
    process = await asyncio.create_subprocess_exec(
        *command, cwd=tmp_path, env=_cleanEnv(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        await waitForListening(process, port)
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.wait(), 30)


@asyncioTest
async def test_editable_install_runs_under_twistd_and_as_xmppd_run(tmp_path):
    venv = freshEditableInstall(tmp_path)
    port = freePort()
    config = writeConfig(tmp_path, port)
    await startsAndListens(
        [str(venv / "bin" / "python"), "-c", "from twisted.scripts.twistd import run; run()",
         "--nodaemon", "--pidfile=", "--logfile=-", "xmppd", "--config", str(config)],
        tmp_path, port)
    await startsAndListens(
        [str(venv / "bin" / "xmppd"), "run", "--config", str(config), "--logfile=-"],
        tmp_path, port)
    good = subprocess.run([str(venv / "bin" / "xmppd"), "check", "--config", str(config)],
                          capture_output=True, text=True, env=_cleanEnv(), cwd=tmp_path)
    assert good.returncode == 0 and "is valid" in good.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[c2s]\nport = "five"\n')
    refused = subprocess.run([str(venv / "bin" / "xmppd"), "check", "--config", str(bad)],
                             capture_output=True, text=True, env=_cleanEnv(), cwd=tmp_path)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        'xmppd: c2s.port = "five": expected an integer from 0 to 65535']
