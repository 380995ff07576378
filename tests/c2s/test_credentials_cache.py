"""
The server keeps the SCRAM keys of accounts that logged in (one database
round trip fewer per login); a password changed or an account deleted
takes effect at the next login all the same, whoever changed it: the
account itself in-band (XEP-0077), or the operator with xmppctl, another
process writing the database. Cluster nodes keep no keys.
"""

import asyncio
import os
import sys

import pytest

from tests.aio import asyncioTest, wait
from tests.rawclient import NS_SASL, RawClient, q

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NS_REGISTER = "jabber:iq:register"


async def serverWithXmppctl(backend, database_options, tmp_path):
    """A running server on ``backend``, and ``xmppctl(*args)`` on its config."""
    from xmppd.storage import Database

    from tests.harness import startServer
    options = database_options(backend)
    database = Database(backend, **options)
    await wait(database.start())
    server = await wait(startServer(database, tmp_path))
    await wait(server.addUser("alice", "old-password"))
    lines = ["[server]", 'data_dir = "%s"' % (tmp_path / "data"), "",
             "[storage]", 'backend = "%s"' % backend, "", "[storage.%s]" % backend]
    lines += ['%s = %s' % (key, value if isinstance(value, int) else '"%s"' % value)
              for key, value in options.items()]
    config = tmp_path / "xmppd.toml"
    config.write_text("\n".join(lines) + "\n")
    passwordFile = tmp_path / "password"
    passwordFile.write_text("new-password\n")

    async def xmppctl(*args):
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "xmppd.ctl", "--config", str(config), *args,
            env=dict(os.environ, PYTHONPATH=REPO),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, err.decode()
        return out.decode()
    xmppctl.passwordFile = str(passwordFile)

    async def stop():
        await wait(server.stop())
        await wait(database.stop())
    return server, xmppctl, stop


async def loginResult(port, username, password):
    """The SASL outcome of a fresh connection: 'success' or the failure's condition."""
    client = await RawClient.connect(port)
    try:
        await client.open()
        await client.starttls()
        result = await client.authenticate(username, password)
        if result.tag == q(NS_SASL, "success"):
            return "success"
        return [child.tag.split("}")[1] for child in result][0]
    finally:
        client.abort()


@pytest.mark.parametrize("backend", ["sqlite", "mysql"])
@asyncioTest
async def test_password_changed_by_xmppctl_refuses_the_old_one_at_the_next_login(
        backend, database_options, tmp_path):
    server, xmppctl, stop = await serverWithXmppctl(backend, database_options, tmp_path)
    try:
        assert await loginResult(server.port, "alice", "old-password") == "success"
        assert "password changed" in await xmppctl(
            "passwd", "alice@localhost", "--password-file", xmppctl.passwordFile)
        assert await loginResult(server.port, "alice", "old-password") == "not-authorized"
        assert await loginResult(server.port, "alice", "new-password") == "success"
    finally:
        await stop()


@pytest.mark.parametrize("backend", ["sqlite", "mysql"])
@asyncioTest
async def test_account_deleted_by_xmppctl_cannot_log_in_at_the_next_login(
        backend, database_options, tmp_path):
    server, xmppctl, stop = await serverWithXmppctl(backend, database_options, tmp_path)
    try:
        assert await loginResult(server.port, "alice", "old-password") == "success"
        assert "deleted" in await xmppctl("deluser", "alice@localhost")
        assert await loginResult(server.port, "alice", "old-password") == "not-authorized"
    finally:
        await stop()


@asyncioTest
async def test_password_changed_in_band_refuses_the_old_one_at_the_next_login(
        make_database, tmp_path):
    from tests.harness import startServer
    database = await wait(make_database("sqlite"))
    server = await wait(startServer(database, tmp_path, {"modules": {"register": {}}}))
    try:
        await wait(server.addUser("alice", "old-password"))
        alice = await RawClient.connect(server.port)
        await alice.login("alice", "old-password", "r")
        alice.sendRaw("<iq type='set' id='pw' to='localhost'><query xmlns='%s'>"
                      "<username>alice</username><password>new-password</password>"
                      "</query></iq>" % NS_REGISTER)
        assert (await alice.expect()).get("type") == "result"
        assert await loginResult(server.port, "alice", "old-password") == "not-authorized"
        assert await loginResult(server.port, "alice", "new-password") == "success"
        await alice.close()
    finally:
        await wait(server.stop())


def test_a_cluster_node_keeps_no_keys_and_a_single_server_does(tmp_path):
    from xmppd.config import parseConfig
    from xmppd.tap import availableModules, buildServer, moduleSchemas
    modules = availableModules()

    def build(**tables):
        data = {"server": {"data_dir": str(tmp_path)}}
        data.update(tables)
        return buildServer(parseConfig(data, moduleSchemas(modules)), modules)
    assert build().accounts.credentialsCache is not None
    node = build(storage={"backend": "mysql"},
                 cluster={"redis": "redis://127.0.0.1:1/0", "node": "n1"})
    assert node.accounts.credentialsCache is None
