"""
The digest's tests run on xmppd's own test kit, the checkout's ``tests/``:
its raw client, its in-process server (``tests/harness.py``: real TCP, real
TLS) and its database fixtures (``tests/conftest.py``: a fresh SQLite file,
or a fresh database on the throwaway MariaDB), so that every test runs on
both backends.

``digest_server``
    ``await digest_server(backend, modules=...)``: a running server on a
    fresh database of ``backend`` with the digest modules enabled (or the
    ``[modules.*]`` tables given) and users alice, bob, carol and dave
    (password "secret-NAME"). Its ``configFile`` is a config of the same
    database, for ``xmppctl`` in a subprocess.
``make_database``, ``database_options``, ``backend``, ``mariadb``
    As in ``tests/conftest.py``, whose definitions they are.
``run``
    ``await run("xmppctl", "--config", FILE, ...)``: an installed console
    script of the test's Python in a subprocess; (status, stdout, stderr).
"""

import asyncio
import json
import os
import pathlib
import sys

import pytest
import pytest_twisted

# Run from anywhere, the tests find the checkout that holds this example.
CHECKOUT = pathlib.Path(__file__).resolve().parents[3]
if str(CHECKOUT) not in sys.path:
    sys.path.insert(0, str(CHECKOUT))

from tests.conftest import (  # noqa: E402,F401
    backend, database_options, make_database, mariadb)

DIGEST_MODULES = {"digest": {}, "digest_notice": {}}
USERS = ("alice", "bob", "carol", "dave")


def configText(dataDir, backend, options, modules):
    """The TOML of a server on the database ``Database(backend, **options)`` opens."""
    lines = ["[server]", "data_dir = %s" % json.dumps(str(dataDir)), "",
             "[storage]", "backend = %s" % json.dumps(backend), "",
             "[storage.%s]" % backend]
    lines += ["%s = %s" % (key, json.dumps(value)) for key, value in sorted(options.items())]
    for name, table in modules.items():
        lines += ["", "[modules.%s]" % name]
        lines += ["%s = %s" % (key, json.dumps(value)) for key, value in sorted(table.items())]
    return "\n".join(lines) + "\n"


@pytest_twisted.async_yield_fixture
async def digest_server(database_options, tmp_path):
    # Imported here: Wokkel imports the reactor, which pytest-twisted must
    # install (asyncio) before anything else does.
    from tests.aio import wait
    from tests.harness import startServer
    from xmppd.storage import Database

    running = []

    async def start(backend, modules=DIGEST_MODULES, users=USERS):
        options = database_options(backend)
        # Started by the server, with the tables of the modules it enables.
        database = Database(backend, **options)
        root = tmp_path / ("server-%d" % len(running))
        server = await wait(startServer(database, root, {"modules": dict(modules)}))
        running.append((server, database))
        for name in users:
            await wait(server.addUser(name, "secret-" + name))
        server.configFile = root / "xmppd.toml"
        server.configFile.write_text(configText(root / "data", backend, options, modules))
        return server

    # ``start`` is awaited from asyncio test bodies (tests.aio.asyncioTest).
    yield start
    for server, database in running:
        await server.stop()
        await database.stop()


@pytest.fixture
def run():
    async def runScript(script, *args):
        process = await asyncio.create_subprocess_exec(
            os.path.join(os.path.dirname(sys.executable), script), *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), 120)
        return process.returncode, out.decode(), err.decode()
    return runScript
