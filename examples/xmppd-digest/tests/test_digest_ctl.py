"""
``xmppctl digest`` and the start-up checks, as an operator meets them:
the installed console scripts in a subprocess, on a config file naming the
database the running server uses (SQLite and MariaDB).
"""

import re

import pytest

from tests.aio import asyncioTest
from tests.offline.transcript import expectMessages, expectSilence, online, send, settle

BACKENDS = pytest.mark.parametrize("backend", ["sqlite", "mysql"])
BOB = "bob@localhost"
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


@BACKENDS
@asyncioTest
async def test_xmppctl_digest_lists_the_senders_and_reset_empties_it(
        digest_server, run, backend):
    xmpp = await digest_server(backend)
    ctl = ("xmppctl", "--config", str(xmpp.configFile), "digest")
    alice = await online(xmpp, "alice")
    carol = await online(xmpp, "carol")
    send(alice, BOB, "a0", "one")
    send(alice, BOB, "a1", "two")
    send(carol, BOB, "c0", "three")
    assert await settle(xmpp, "bob", alice, carol) == [[], []]

    status, out, err = await run(*ctl, BOB)
    assert (status, err) == (0, "")
    assert re.fullmatch("alice@localhost\t2\t%s\ncarol@localhost\t1\t%s\n" % (STAMP, STAMP),
                        out), out
    assert await run(*ctl, "reset", BOB) == (0, "digest of bob@localhost reset (2 senders)\n", "")

    # The messages still wait; only the digest of them is gone.
    bob = await online(xmpp, "bob")
    assert [m.get("id") for m in await expectMessages(bob, 3)] == ["a0", "a1", "c0"]
    await expectSilence(bob)


def writeConfig(tmp_path, modules):
    config = tmp_path / "xmppd.toml"
    config.write_text('[server]\ndata_dir = "%s"\n\n%s' % (tmp_path / "data", modules))
    return str(config)


@asyncioTest
async def test_xmppctl_digest_refuses_in_one_line_what_it_cannot_do(tmp_path, run):
    config = writeConfig(tmp_path, "[modules.digest]\n")
    assert await run("xmppctl", "--config", config, "digest", "nobody@localhost") == (
        1, "", "xmppctl: no such user: nobody@localhost\n")
    assert await run("xmppctl", "--config", config, "digest", "dave@localhost", BOB) == (
        1, "", "xmppctl: usage: xmppctl digest [reset] USER@HOST\n")
    config = writeConfig(tmp_path, "")
    assert await run("xmppctl", "--config", config, "digest", BOB) == (
        1, "", "xmppctl: digest is not enabled (add a [modules.digest] table)\n")


@asyncioTest
async def test_a_module_without_the_module_it_depends_on_is_refused_in_one_line(
        tmp_path, run):
    config = writeConfig(tmp_path, "[modules.digest_notice]\n")
    assert await run("xmppd", "check", "--config", config) == (
        1, "", "xmppd: modules.digest_notice: depends on module digest, which is not enabled"
        " (enable [modules.digest] or disable modules.digest_notice)\n")
    config = writeConfig(tmp_path, "[modules.digest]\n\n[modules.offline]\nenabled = false\n")
    assert await run("xmppd", "check", "--config", config) == (
        1, "", "xmppd: modules.digest: depends on module offline, which is not enabled"
        " (enable [modules.offline] or disable modules.digest)\n")


def test_the_modules_are_found_as_installed_and_declare_their_needs():
    from xmppd.tap import availableModules
    from xmppd_digest import IDigest
    modules = availableModules()
    digest, notice = modules["digest"], modules["digest_notice"]
    assert not digest.builtin and not notice.builtin
    assert not digest.enabledByDefault and not notice.enabledByDefault
    assert (digest.depends, digest.provides, sorted(digest.stores)) == \
        (("offline",), (IDigest,), ["digest"])
    assert notice.depends == ("digest",)
