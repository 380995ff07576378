import pytest_twisted


@pytest_twisted.async_yield_fixture
async def xmpp(make_database, tmp_path):
    """A running server on SQLite with users alice, bob and carol."""
    # Imported here: Wokkel imports the reactor, which pytest-twisted must
    # install (asyncio) before anything else does.
    from tests.harness import startServer

    database = await make_database("sqlite")
    running = await startServer(database, tmp_path)
    for name in ("alice", "bob", "carol"):
        await running.addUser(name, "secret-" + name)
    yield running
    await running.stop()
