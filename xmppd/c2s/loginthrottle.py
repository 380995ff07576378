"""
Login throttling across connections (as ejabberd's mod_fail2ban, but
slowing instead of banning).

``max_auth_attempts`` only bounds the attempts on one stream; a password
guesser opens another. Here failed SASL attempts are counted per IP address
and per account over a sliding window, and past a free allowance each
further failure is answered after a delay that doubles, up to a cap.

- An address over its allowance has every answer delayed, successes too:
  otherwise a guesser would just give up on any attempt not answered at
  once and move on to the next password.
- An account over its allowance (guessed at from many addresses) has its
  failures delayed but not its successes, so that its owner still logs in
  at once: a throttle must not become a way to lock someone out.

While its answer is delayed a stream reads nothing more, so it cannot
pipeline further attempts meanwhile.
"""

from collections import OrderedDict

# Keys (addresses and account names) tracked at most; the least recently
# failing go first. Bounds the memory a guesser spraying names can take.
MAX_KEYS = 100000


class LoginThrottle:
    def __init__(self, window, freeFailures, maxDelay, maxKeys=MAX_KEYS):
        self.window = window
        self.freeFailures = freeFailures
        self.maxDelay = maxDelay
        self.maxKeys = maxKeys
        # Past the allowance the delay reaches its cap within a few dozen
        # failures; more timestamps than that tell nothing more.
        self._keep = freeFailures + 64
        self.failures = OrderedDict()

    def failed(self, address, account, now):
        """Record a failure; the seconds to wait before answering it."""
        counts = [self._record(("address", address), now)]
        if account is not None:
            counts.append(self._record(("account", account), now))
        return self._delay(max(counts))

    def successDelay(self, address, now):
        """The seconds to wait before answering a success from ``address``."""
        return self._delay(self._count(("address", address), now))

    def _delay(self, count):
        if not self.maxDelay or count <= self.freeFailures:
            return 0
        return min(self.maxDelay, 2 ** min(count - self.freeFailures - 1, 32))

    def _count(self, key, now):
        times = self.failures.get(key)
        if not times:
            return 0
        start = now - self.window
        while times and times[0] <= start:
            times.pop(0)
        if not times:
            del self.failures[key]
        return len(times)

    def _record(self, key, now):
        self._count(key, now)
        times = self.failures.pop(key, None) or []
        times.append(now)
        del times[:-self._keep]
        self.failures[key] = times
        while len(self.failures) > self.maxKeys:
            self.failures.popitem(last=False)
        return len(times)
