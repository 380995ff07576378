"""
xmppd.eventloop: the epoll reactor dispatching events without a log context
per event, on a reactor of its own (not the tests' running one).
"""

import socket

from twisted.internet import epollreactor, selectreactor
from twisted.python import log

from xmppd import eventloop


class Reader:
    def __init__(self, sock, fail=False):
        self.sock = sock
        self.fail = fail
        self.read = []
        self.lost = []

    def fileno(self):
        return self.sock.fileno()

    def logPrefix(self):
        return "TestReader"

    def doRead(self):
        if self.fail:
            raise RuntimeError("broken handler")
        self.read.append(self.sock.recv(100))

    def connectionLost(self, reason):
        self.lost.append(reason)


def test_events_reach_their_reader_and_a_failing_one_is_disconnected():
    reactor = epollreactor.EPollReactor()
    errors = []

    def observer(event):
        if event.get("isError"):
            errors.append(event)
    log.addObserver(observer)
    try:
        assert eventloop.install(reactor)
        assert eventloop.install(reactor)
        a, b = socket.socketpair()
        c, d = socket.socketpair()
        good, bad = Reader(a), Reader(c, fail=True)
        reactor.addReader(good)
        reactor.addReader(bad)
        b.send(b"hello")
        d.send(b"boom")
        reactor.doIteration(1)
        assert good.read == [b"hello"] and good.lost == []
        # Twisted's own handling of a raising doRead: logged, then lost.
        assert len(bad.lost) == 1 and bad.lost[0].check(RuntimeError)
        assert bad not in reactor.getReaders()
        assert [e["failure"].value.args for e in errors if "failure" in e] == [
            ("broken handler",)]
    finally:
        log.removeObserver(observer)
        reactor.removeAll()
        for s in (a, b, c, d):
            s.close()


def test_another_kind_of_reactor_is_left_as_it_is():
    reactor = selectreactor.SelectReactor()
    before = reactor.doIteration
    assert not eventloop.install(reactor)
    assert reactor.doIteration == before
