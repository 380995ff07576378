"""
A small Redis client (RESP2) on Twisted, with only what the cluster needs.

Why not txredisapi (1.6.0, the Twisted client on PyPI)? Three of its
behaviours work against the guarantees the cluster is built on:

- it converts every reply that looks like a number into an int by
  default (``convertNumbers``): a message body or a resource named "12"
  would come back as 12;
- its factories reconnect by themselves and hide which commands were lost
  with the connection, whereas a stanza whose XADD failed must be routed
  again, and a lock whose renewal failed must count as lost, at once;
- its pools spread commands over connections, whereas the cluster relies
  on Redis executing one connection's commands in the order they were
  sent (the stream entries a routing decision added land before the
  release of the account's lock, see xmppd.cluster.lanes).

So: one ``RedisProtocol`` per connection, commands pipelined in order,
replies matched in order, every pending command failed with
``RedisConnectionLost`` when the connection goes, and reconnection left to
the caller (``xmppd.cluster.link``). A connection in subscriber mode
(``subscribe``) hands published messages to a callback instead.
"""

from urllib.parse import parse_qs, unquote, urlparse

from twisted.internet import defer, protocol


class RedisError(Exception):
    """An error reply (``-ERR ...``): the command was refused, the connection is fine."""


class RedisConnectionLost(Exception):
    """The connection ended before the command's reply arrived."""


def encode(args):
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode("utf-8")
        elif isinstance(arg, bool):
            raise TypeError("no Redis encoding for a bool")
        elif isinstance(arg, (int, float)):
            data = repr(arg).encode("ascii")
        else:
            raise TypeError("no Redis encoding for %r" % (arg,))
        parts.append(b"$%d\r\n" % len(data))
        parts.append(data)
        parts.append(b"\r\n")
    return b"".join(parts)


class _Incomplete(Exception):
    pass


class ReplyParser:
    """Incremental RESP2 parser: ``feed`` bytes, get the complete replies."""

    def __init__(self):
        self.buffer = b""

    def feed(self, data):
        self.buffer += data
        replies = []
        position = 0
        while True:
            try:
                reply, position = self._parse(position)
            except _Incomplete:
                break
            replies.append(reply)
        self.buffer = self.buffer[position:]
        return replies

    def _line(self, position):
        end = self.buffer.find(b"\r\n", position)
        if end < 0:
            raise _Incomplete()
        return self.buffer[position:end], end + 2

    def _parse(self, position):
        if position >= len(self.buffer):
            raise _Incomplete()
        kind = self.buffer[position:position + 1]
        line, position = self._line(position + 1)
        if kind == b"+":
            return line, position
        if kind == b"-":
            return RedisError(line.decode("utf-8", "replace")), position
        if kind == b":":
            return int(line), position
        if kind == b"$":
            length = int(line)
            if length < 0:
                return None, position
            if len(self.buffer) < position + length + 2:
                raise _Incomplete()
            return self.buffer[position:position + length], position + length + 2
        if kind == b"*":
            count = int(line)
            if count < 0:
                return None, position
            items = []
            for _ in range(count):
                item, position = self._parse(position)
                items.append(item)
            return items, position
        raise ValueError("not a RESP reply: %r" % (self.buffer[position - 1:position + 20],))


class RedisProtocol(protocol.Protocol):
    """One connection: ``execute`` commands in order, or ``subscribe``."""

    def __init__(self):
        self.parser = ReplyParser()
        self.pending = []
        self.connected = False
        self.onMessage = None
        self.subscribed = False
        self.lost = defer.Deferred()

    def connectionMade(self):
        self.connected = True

    def dataReceived(self, data):
        try:
            replies = self.parser.feed(data)
        except ValueError:
            self.transport.abortConnection()
            return
        for reply in replies:
            if self.subscribed and isinstance(reply, list) and reply and \
                    reply[0] == b"message":
                if self.onMessage is not None:
                    self.onMessage(reply[1], reply[2])
                continue
            if not self.pending:
                continue
            d = self.pending.pop(0)
            if isinstance(reply, RedisError):
                d.errback(reply)
            else:
                d.callback(reply)

    def connectionLost(self, reason):
        self.connected = False
        pending, self.pending = self.pending, []
        # The owner learns first (and drops what it held under this
        # connection, the account locks), then the commands fail.
        self.lost.callback(None)
        for d in pending:
            d.errback(RedisConnectionLost(reason.getErrorMessage()))

    def execute(self, *args):
        """The reply to one command, as a Deferred; commands are answered in order."""
        if not self.connected:
            return defer.fail(RedisConnectionLost("not connected"))
        d = defer.Deferred()
        self.pending.append(d)
        self.transport.write(encode(args))
        return d

    def barrier(self):
        """
        Fires once every command sent so far is answered (whatever the
        answers were): what a job wrote to Redis is there, or failed.
        """
        if not self.pending:
            return defer.succeed(None)
        done = defer.Deferred()
        last = self.pending[-1]

        def settle(result):
            if not done.called:
                done.callback(None)
            return result

        last.addBoth(settle)
        return done

    def subscribe(self, onMessage, *channels):
        """Subscriber mode: ``onMessage(channel, data)`` for every published message."""
        self.onMessage = onMessage
        d = self.execute(b"SUBSCRIBE", *channels)
        self.subscribed = True
        # A SUBSCRIBE is answered once per channel; the first answer is ours.
        for _ in channels[1:]:
            self.pending.append(defer.Deferred())
        return d

    def close(self):
        if self.transport is not None:
            self.transport.loseConnection()


class Address:
    """Where the Redis server is: TCP host and port, or a unix socket; and the db."""

    def __init__(self, host=None, port=6379, path=None, db=0, password=None):
        self.host = host
        self.port = port
        self.path = path
        self.db = db
        self.password = password

    def __str__(self):
        where = self.path if self.path else "%s:%d" % (self.host, self.port)
        return "%s db %d" % (where, self.db)


def parseAddress(text):
    """
    ``redis://[:password@]host[:port][/db]``, ``unix:///path?db=N`` or a
    plain socket path (``/run/redis/redis.sock``); ValueError otherwise.
    """
    if text.startswith("/"):
        return Address(path=text)
    url = urlparse(text)
    if url.scheme == "unix":
        if not url.path:
            raise ValueError(text)
        query = parse_qs(url.query)
        db = int(query.get("db", ["0"])[0])
        password = unquote(url.password) if url.password else None
        return Address(path=url.path, db=db, password=password)
    if url.scheme != "redis" or not url.hostname:
        raise ValueError(text)
    db = 0
    if url.path and url.path != "/":
        db = int(url.path.lstrip("/"))
    password = unquote(url.password) if url.password else None
    return Address(host=url.hostname, port=url.port or 6379, db=db, password=password)


@defer.inlineCallbacks
def connect(reactor, address, timeout=5):
    """A connected RedisProtocol on ``address``, authenticated and on its db."""
    endpointFactory = protocol.ClientCreator(reactor, RedisProtocol)
    if address.path:
        conn = yield endpointFactory.connectUNIX(address.path, timeout=timeout)
    else:
        conn = yield endpointFactory.connectTCP(address.host, address.port, timeout=timeout)
    try:
        if address.password:
            yield conn.execute(b"AUTH", address.password)
        if address.db:
            yield conn.execute(b"SELECT", address.db)
    except Exception:
        conn.transport.abortConnection()
        raise
    return conn


def pairs(reply):
    """A flat ``[k1, v1, k2, v2]`` reply (HGETALL, XINFO) as a dict of str → value."""
    reply = reply or []
    return {reply[i].decode("utf-8"): reply[i + 1] for i in range(0, len(reply) - 1, 2)}
