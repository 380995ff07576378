"""
Rate limits on what clients send: token buckets in bytes per second.

As ejabberd's shapers and Prosody's mod_limits, a client over its rate is
slowed, not disconnected: the server stops reading from it until its bucket
has refilled, so the kernel's socket buffers and then the client's own
writes take the wait. There is one bucket per IP address (from the first
byte, authenticated or not) and one per account (shared by all its
resources, once SASL has succeeded); a stream reads again only when both
have tokens.
"""


class TokenBucket:
    """``burst`` bytes at most, refilled at ``rate`` bytes per second."""

    __slots__ = ("rate", "burst", "tokens", "updated")

    def __init__(self, rate, burst, now):
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.updated = now

    def refill(self, now):
        if now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def charge(self, size, now):
        self.refill(now)
        self.tokens -= size

    def wait(self, now):
        """Seconds until the bucket is out of debt (0 when it has tokens)."""
        self.refill(now)
        return 0 if self.tokens >= 0 else -self.tokens / self.rate

    def full(self, now):
        self.refill(now)
        return self.tokens >= self.burst


class Buckets:
    """
    The buckets of one kind of key (IP addresses, accounts).

    A full bucket is the same as no bucket, so full ones are dropped
    whenever the table has doubled since the last sweep: the table holds
    about as many buckets as there are keys sending right now, which the
    connection limits bound.
    """

    def __init__(self, rate, burst):
        self.rate = rate
        self.burst = max(burst, 1)
        self.buckets = {}
        self._sweepAt = 1024

    def charge(self, key, size, now):
        bucket = self.buckets.get(key)
        if bucket is None:
            if len(self.buckets) >= self._sweepAt:
                self._sweep(now)
            bucket = self.buckets[key] = TokenBucket(self.rate, self.burst, now)
        bucket.charge(size, now)
        return bucket.wait(now)

    def wait(self, key, now):
        bucket = self.buckets.get(key)
        return 0 if bucket is None else bucket.wait(now)

    def _sweep(self, now):
        for key in [k for k, b in self.buckets.items() if b.full(now)]:
            del self.buckets[key]
        self._sweepAt = max(1024, 2 * len(self.buckets))


class RateLimits:
    """
    The per-IP and per-account limits of a server; a rate of 0 is no limit.

    ``charge`` and ``wait`` return the seconds a stream must stop reading
    for (0: it may go on).
    """

    def __init__(self, ipRate, ipBurst, accountRate, accountBurst):
        self.perAddress = Buckets(ipRate, ipBurst) if ipRate else None
        self.perAccount = Buckets(accountRate, accountBurst) if accountRate else None

    def charge(self, address, account, size, now):
        wait = 0
        if self.perAddress is not None:
            wait = self.perAddress.charge(address, size, now)
        if self.perAccount is not None and account is not None:
            wait = max(wait, self.perAccount.charge(account, size, now))
        return wait

    def wait(self, address, account, now):
        wait = 0
        if self.perAddress is not None:
            wait = self.perAddress.wait(address, now)
        if self.perAccount is not None and account is not None:
            wait = max(wait, self.perAccount.wait(account, now))
        return wait

    def describe(self, address, account, now):
        """Which limit holds the stream back, for the one log line."""
        if self.perAccount is not None and account is not None \
                and self.perAccount.wait(account, now) > 0:
            return "%s over %d bytes/s" % (account, self.perAccount.rate)
        if self.perAddress is not None:
            return "address over %d bytes/s" % self.perAddress.rate
        return "over its rate"
