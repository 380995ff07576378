"""
Fixtures for federation tests: a test CA and ``federate``, which starts
xmppd processes for a.test and b.test routed to each other.
"""

import pytest
import pytest_twisted

from tests.s2s.certs import TestCA


@pytest.fixture
def test_ca(tmp_path):
    return TestCA(tmp_path)


@pytest_twisted.async_yield_fixture
async def federate(tmp_path, test_ca, database_options):
    """
    ``a, b = await federate(backend, a={...}, b={...}, users={...})``: the
    two servers started, routed to each other, with the given
    ``[modules.s2s]`` options and accounts (name lists per domain).
    """
    from tests.s2s.federation import XmppdProcess
    started = []

    async def start(backend="sqlite", a=None, b=None, users=None, certificates=None,
                    beforeStart=None):
        users = users or {"a.test": ["alice"], "b.test": ["bob"]}
        certificates = certificates or {}
        servers = []
        for domain, options in (("a.test", a), ("b.test", b)):
            certificate = certificates.get(domain) or test_ca.issue(domain)
            server = XmppdProcess(tmp_path / domain, domain,
                                  (backend, database_options(backend)),
                                  certificate, test_ca.path, options)
            servers.append(server)
        servers[0].routeTo(servers[1])
        servers[1].routeTo(servers[0])
        if beforeStart is not None:
            beforeStart(*servers)
        for server in servers:
            await server.addUsers(*users.get(server.domain, []))
            started.append(server)
            await server.start()
        return servers

    yield start
    import asyncio

    from twisted.internet.defer import Deferred
    for server in started:
        await Deferred.fromFuture(asyncio.ensure_future(server.stop()))
        # Shown by pytest when the test failed.
        print("---- log of %s ----\n%s" % (server.domain, server.logText()))


@pytest_twisted.async_yield_fixture
async def federate_ejabberd(tmp_path, test_ca, database_options):
    """
    ``a, e = await federate_ejabberd(backend)``: xmppd serving a.test and
    Debian's ejabberd serving e.test, routed to each other. Without
    ejabberd the test is skipped, except under CI=true, where it fails.
    """
    from tests.conftest import _inCI
    from tests.s2s import ejabberd
    from tests.s2s.dns import startSRVServer
    from tests.s2s.federation import XmppdProcess, freePort
    if not ejabberd.available():
        if _inCI():
            pytest.fail("ejabberd is not installed (apt-get install ejabberd)", pytrace=False)
        pytest.skip("ejabberd is not installed")
    started = []

    async def start(backend="sqlite", users=("alice", "bob")):
        a = XmppdProcess(tmp_path / "a.test", "a.test", (backend, database_options(backend)),
                         test_ca.issue("a.test"), test_ca.path)
        names = startSRVServer({"_xmpp-server._tcp.a.test": ("localhost", a.s2sPort)})
        started.append(names)
        e = startEjabberd(lambda: ejabberd.Ejabberd(
            "e.test", test_ca.issue("e.test"), test_ca.path,
            [freePort(), freePort(), freePort()], names.getHost().port))
        started.append(e)
        a.routeTo("e.test", e.s2sPort)
        await a.addUsers(*users)
        started.append(a)
        await a.start()
        return a, e

    yield start
    import asyncio

    from twisted.internet.defer import Deferred
    for server in reversed(started):
        if hasattr(server, "stopListening"):
            await server.stopListening()
        elif hasattr(server, "addUsers"):
            await Deferred.fromFuture(asyncio.ensure_future(server.stop()))
            print("---- log of %s ----\n%s" % (server.domain, server.logText()))
        else:
            print("---- log of %s ----\n%s" % (server.domain, server.logText()))
            server.stop()


def startEjabberd(makeEjabberd, attempts=3):
    """
    A started ejabberd on free ports. A port found free can be taken by
    another process before ejabberd binds it (the listener then fails with
    eaddrinuse): such a start is tried again on new ports, any other failure
    is the test's.
    """
    for attempt in range(attempts):
        server = makeEjabberd()
        try:
            return server.start()
        except RuntimeError as e:
            server.stop()
            if "eaddrinuse" not in str(e) or attempt == attempts - 1:
                raise
