"""xmppctl against a real database on both backends, run as operators run it."""

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def xmppctl(backend, database_options, tmp_path):
    """Run ``xmppctl`` in a subprocess with a config for a fresh database."""
    options = database_options(backend)
    lines = ["[server]", 'data_dir = "%s"' % (tmp_path / "data"), "",
             "[storage]", 'backend = "%s"' % backend, ""]
    if backend == "sqlite":
        lines += ["[storage.sqlite]", 'path = "%s"' % options["path"]]
    else:
        lines += ["[storage.mysql]"] + ['%s = %s' % (key, _toml(value))
                                        for key, value in options.items()]
    config = tmp_path / "xmppd.toml"
    config.write_text("\n".join(lines) + "\n")
    passwordFile = tmp_path / "password"
    passwordFile.write_text("correct horse\n")

    def run(*args, password=False):
        argv = [sys.executable, "-m", "xmppd.ctl", "--config", str(config)] + list(args)
        if password:
            argv += ["--password-file", str(passwordFile)]
        env = dict(os.environ, PYTHONPATH=REPO)
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    run.passwordFile = passwordFile
    return run


def _toml(value):
    return str(value) if isinstance(value, int) else '"%s"' % value


def test_adduser_users_passwd_deluser(xmppctl):
    created = xmppctl("adduser", "Alice@localhost", password=True)
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == "created alice@localhost"
    assert xmppctl("adduser", "bob@localhost", password=True).returncode == 0

    listed = xmppctl("users")
    assert listed.stdout.split() == ["alice@localhost", "bob@localhost"]

    xmppctl.passwordFile.write_text("battery staple\n")
    changed = xmppctl("passwd", "alice@localhost", password=True)
    assert changed.returncode == 0, changed.stderr

    deleted = xmppctl("deluser", "alice@localhost")
    assert deleted.returncode == 0
    assert xmppctl("users").stdout.split() == ["bob@localhost"]


@pytest.mark.parametrize("args, message", [
    (("deluser", "nobody@localhost"), "xmppctl: no such user: nobody@localhost"),
    (("passwd", "nobody@localhost"), "xmppctl: no such user: nobody@localhost"),
    (("adduser", "x@elsewhere.example"),
     "xmppctl: elsewhere.example is not a host of this server (hosts: localhost)"),
    (("adduser", "localhost"), "xmppctl: 'localhost' is not an account (expected USER@HOST)"),
])
def test_errors_are_one_line(xmppctl, args, message):
    result = xmppctl(*args, password=args[0] != "deluser")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [message]


def test_adduser_twice_fails(xmppctl):
    assert xmppctl("adduser", "carol@localhost", password=True).returncode == 0
    again = xmppctl("adduser", "carol@localhost", password=True)
    assert again.returncode == 1
    assert again.stderr.strip() == "xmppctl: carol@localhost already exists"


def test_bad_config_is_one_line(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('[c2s]\nport = "abc"\n')
    result = subprocess.run([sys.executable, "-m", "xmppd.ctl", "--config", str(config), "users"],
                            capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, PYTHONPATH=REPO))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "c2s.port" in lines[0], result.stderr
