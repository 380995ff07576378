"""The cluster's Redis client: parsing, ordering, and what a lost connection does."""

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task

from xmppd.cluster.resp import (
    RedisConnectionLost,
    RedisError,
    ReplyParser,
    connect,
    encode,
    pairs,
    parseAddress,
)


def test_replies_split_anywhere_are_parsed_once_complete():
    data = b"+OK\r\n:42\r\n$5\r\nhe\r\nl\r\n$-1\r\n*2\r\n$1\r\n1\r\n*1\r\n:7\r\n-ERR no\r\n"
    for cut in range(1, len(data)):
        parser = ReplyParser()
        replies = parser.feed(data[:cut]) + parser.feed(data[cut:])
        assert replies[:5] == [b"OK", 42, b"he\r\nl", None, [b"1", [7]]]
        assert isinstance(replies[5], RedisError) and str(replies[5]) == "ERR no"


def test_numbers_stay_text_unless_redis_sent_an_integer():
    # A body or resource "12" must come back as b"12" (see the module docstring).
    assert ReplyParser().feed(b"$2\r\n12\r\n") == [b"12"]
    assert encode(["SET", "k", 12]) == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n12\r\n"


@pytest.mark.parametrize("text, where, db", [
    ("redis://127.0.0.1:6390/2", "127.0.0.1:6390", 2),
    ("redis://example.org", "example.org:6379", 0),
    ("unix:///run/redis/redis.sock?db=3", "/run/redis/redis.sock", 3),
    ("/run/redis/redis.sock", "/run/redis/redis.sock", 0),
])
def test_addresses(text, where, db):
    address = parseAddress(text)
    assert str(address) == "%s db %d" % (where, db)


@pytest_twisted.ensureDeferred
async def test_pipelined_commands_are_answered_in_order(redis):
    conn = await connect(reactor, parseAddress(redis.url))
    try:
        replies = [conn.execute(b"INCR", b"counter") for _ in range(100)]
        barrier = conn.barrier()
        await barrier
        assert all(d.called for d in replies)
        assert [await d for d in replies] == list(range(1, 101))
        await conn.execute(b"HSET", b"h", b"a", b"1", b"b", b"2")
        assert pairs(await conn.execute(b"HGETALL", b"h")) == {"a": b"1", "b": b"2"}
        with pytest.raises(RedisError):
            await conn.execute(b"NOSUCHCOMMAND")
        # An error answers one command; the connection goes on.
        assert await conn.execute(b"PING") == b"PONG"
    finally:
        conn.close()


@pytest_twisted.ensureDeferred
async def test_a_unix_socket_and_a_database_number(redis):
    for text in (redis.socketPath, "unix://%s?db=3" % redis.socketPath):
        conn = await connect(reactor, parseAddress(text))
        try:
            await conn.execute(b"SET", b"where", text)
        finally:
            conn.close()
    assert redis.command("GET", "where") == redis.socketPath.encode()
    conn = await connect(reactor, parseAddress("unix://%s?db=3" % redis.socketPath))
    try:
        assert await conn.execute(b"GET", b"where") == b"unix://%s?db=3" % (
            redis.socketPath.encode())
    finally:
        conn.close()


@pytest_twisted.ensureDeferred
async def test_a_lost_connection_fails_every_pending_command_and_tells_its_owner(redis):
    conn = await connect(reactor, parseAddress(redis.url))
    order = []
    conn.lost.addCallback(lambda _: order.append("lost"))
    blocked = conn.execute(b"BLPOP", b"nothing", 5)
    blocked.addErrback(lambda f: (order.append(f.type), f)[1])
    redis.restart()
    with pytest.raises(RedisConnectionLost):
        await blocked
    # The owner first (it drops its locks), then the commands.
    assert order == ["lost", RedisConnectionLost]
    with pytest.raises(RedisConnectionLost):
        await conn.execute(b"PING")


@pytest_twisted.ensureDeferred
async def test_a_subscriber_gets_what_is_published(redis):
    subscriber = await connect(reactor, parseAddress(redis.url))
    publisher = await connect(reactor, parseAddress(redis.url))
    got = defer.Deferred()
    try:
        await subscriber.subscribe(lambda channel, data: got.callback((channel, data)),
                                   b"xmppd:test")
        assert await publisher.execute(b"PUBLISH", b"xmppd:test", b"bob@localhost") == 1
        assert await got == (b"xmppd:test", b"bob@localhost")
    finally:
        subscriber.close()
        publisher.close()
    await task.deferLater(reactor, 0, lambda: None)
