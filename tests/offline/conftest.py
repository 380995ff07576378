import pytest_twisted


@pytest_twisted.async_yield_fixture
async def serve(make_database, tmp_path):
    """
    ``await serve(backend, offline={...}, **tables)``: a running server on a
    fresh database of ``backend`` with users alice, bob, carol, dave and
    erin (password "secret-NAME"); ``offline`` is [modules.offline], other
    keyword arguments are whole config tables (``modules`` included).
    """
    # Imported here: Wokkel imports the reactor, which pytest-twisted must
    # install (asyncio) before anything else does.
    from tests.aio import wait
    from tests.harness import startServer

    running = []

    async def start(backend, offline=None, users=("alice", "bob", "carol", "dave", "erin"),
                    **tables):
        database = await wait(make_database(backend))
        config = dict(tables)
        if offline is not None:
            modules = dict(config.get("modules", {}))
            modules["offline"] = dict(modules.get("offline", {}), **offline)
            config["modules"] = modules
        server = await startServer(database, tmp_path / ("server-%d" % len(running)), config)
        running.append(server)
        for name in users:
            await wait(server.addUser(name, "secret-" + name))
        return server

    # ``start`` is awaited from asyncio test bodies (tests.aio.asyncioTest).
    yield start
    for server in running:
        await server.stop()
