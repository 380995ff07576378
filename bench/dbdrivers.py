"""
The MySQL drivers side by side under adbapi, below XMPP: xmppd's own
``OfflineStore`` on a throwaway MariaDB, once per driver and round, the
drivers taking turns so that a change in the machine's load falls on both.

- store: ``--lanes`` writers (a lane per recipient, as the server's
  pipeline runs them) each storing ``--messages`` rows one after the other,
  with the per-pair and per-user limits checked in the insert's transaction
  as the server does;
- drain: one recipient's ``--backlog`` rows fetched 100 at a time and each
  batch deleted by id, as offline delivery does.

For each: wall-clock rate and this process's CPU per row (the Python side of
the driver; MariaDB's own work is not in it).

    python3 -m bench.dbdrivers [--rounds 5] [--lanes 5] [--messages 1000]
"""

import argparse
import os
import statistics
import sys
import time

from twisted.internet import defer, task

from bench.servers import MariaDB, newWorkDir
from xmppd.offline.store import OfflineStore
from xmppd.storage import Database
from xmppd.storage.engines import MYSQL_DRIVERS

XML = ("<message to='o@localhost' type='chat' id='m1' from='s@localhost/bench'><body>bench"
       " message 1 from s</body><delay xmlns='urn:xmpp:delay' from='localhost'"
       " stamp='2026-01-01T00:00:00.000000Z'>Offline Storage</delay></message>")


def cpu():
    t = os.times()
    return t.user + t.system


async def storeRound(offline, tag, lanes, messages):
    async def lane(k):
        for n in range(messages):
            await offline.store("%s.%d@localhost" % (tag, k), "s%d@localhost" % k, XML, n,
                                pairLimit=1000000, userLimit=1000000)
    started, cpu0 = time.monotonic(), cpu()
    await defer.gatherResults([defer.ensureDeferred(lane(k)) for k in range(lanes)])
    wall, used = time.monotonic() - started, cpu() - cpu0
    total = lanes * messages
    return total / wall, 1e6 * used / total


async def drainRound(offline, tag, backlog):
    recipient = "%s.d@localhost" % tag
    await defer.gatherResults([defer.ensureDeferred(_fill(offline, recipient, k, backlog // 10))
                               for k in range(10)])
    started, cpu0 = time.monotonic(), cpu()
    drained = 0
    while True:
        rows = await offline.fetch(recipient, limit=100)
        if not rows:
            break
        drained += await offline.delete([row[0] for row in rows])
    wall, used = time.monotonic() - started, cpu() - cpu0
    return drained / wall, 1e6 * used / max(drained, 1)


async def _fill(offline, recipient, k, count):
    for n in range(count):
        await offline.store(recipient, "f%d@localhost" % k, XML, n)


async def measure(reactor, args):
    mariadb = MariaDB(newWorkDir())
    mariadb.start()
    results = {}
    try:
        options = dict(unix_socket=mariadb.socket, user="xmppd", password="bench",
                       database="xmppd", pool_size=args.pool_size)
        databases = {}
        for driver in args.drivers:
            databases[driver] = Database("mysql", driver=driver, **options)
            await databases[driver].start()
        for r in range(args.rounds):
            for driver in args.drivers if r % 2 == 0 else reversed(args.drivers):
                offline = OfflineStore(databases[driver])
                tag = "%s%d" % (driver, r)
                for kind, outcome in (
                        ("store", await storeRound(offline, tag, args.lanes, args.messages)),
                        ("drain", await drainRound(offline, tag, args.backlog))):
                    results.setdefault((driver, kind), []).append(outcome)
                    with open("/proc/loadavg") as f:
                        load = f.read().split()[0]
                    sys.stderr.write("[%s] %s %s round %d: %.0f rows/s, %.0f µs CPU per row"
                                     "   (load %s)\n" % (time.strftime("%H:%M:%S"), driver,
                                                         kind, r, outcome[0], outcome[1], load))
        for database in databases.values():
            await database.stop()
    finally:
        mariadb.stop()
    print("| driver | scenario | rows/s: median (min–max) | µs CPU per row: median (min–max) |")
    print("|---|---|---|---|")
    for (driver, kind), values in sorted(results.items()):
        rates, cpus = [v[0] for v in values], [v[1] for v in values]
        print("| %s | %s | %.0f (%.0f–%.0f) | %.0f (%.0f–%.0f) |" % (
            driver, kind, statistics.median(rates), min(rates), max(rates),
            statistics.median(cpus), min(cpus), max(cpus)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--drivers", default=",".join(sorted(MYSQL_DRIVERS)))
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--lanes", type=int, default=5)
    p.add_argument("--messages", type=int, default=1000, help="per lane")
    p.add_argument("--backlog", type=int, default=10000)
    p.add_argument("--pool-size", type=int, default=5)
    args = p.parse_args(argv)
    args.drivers = args.drivers.split(",")
    task.react(lambda reactor: defer.ensureDeferred(measure(reactor, args)))


if __name__ == "__main__":
    main()
