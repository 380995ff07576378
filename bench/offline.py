"""
The offline-message benchmark of issue #4, on both xmppd backends:

- stored messages per second (senders → offline recipients, counted in the
  server's storage until the last one is there),
- the time from initial presence to the last offline message for a backlog of
  100 and of 10,000 messages,
- the server's peak RSS (VmHWM) over the whole run.

    python3 -m bench.offline [--reps 3] [--backends sqlite,mysql]

Medians of ``--reps`` runs are printed; the side-by-side comparison with
Prosody and ejabberd is ``python3 -m bench.run``. Loopback only, bounded.
"""

import argparse
import statistics
import sys
import time

from bench import driver
from bench.servers import Xmppd, newWorkDir

SENDERS = 20
RECIPIENTS = 20
MESSAGES = 250           # per sender: 5,000 stored per repetition
BACKLOGS = [100, 10000]
FILL_SENDERS = 10


def peakRss(pid):
    """VmHWM of the server process, in MiB: the most it ever held resident."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def measure(backend, reps, procs):
    server = Xmppd(newWorkDir(), backend)
    server.start()
    try:
        driver.waitReady(server.port)
        senders = {r: ["s%d.%d" % (r, i) for i in range(SENDERS)] for r in range(reps)}
        recipients = {r: ["o%d.%d" % (r, j) for j in range(RECIPIENTS)] for r in range(reps)}
        drains = {(r, n): "d%d.%d" % (r, n) for r in range(reps) for n in BACKLOGS}
        fillers = ["f%d" % i for i in range(FILL_SENDERS)]
        users = [u for r in range(reps) for u in senders[r] + recipients[r]]
        users += list(drains.values()) + fillers
        driver.runOnly("register", server.port, dict(users=users), procs)
        results = {"store": []}
        results.update({"drain%d" % n: [] for n in BACKLOGS})
        for r in range(reps):
            stored = driver.scenarioStore(server, senders[r], recipients[r], MESSAGES, procs)
            results["store"].append(stored["stored_per_s"])
            for n in BACKLOGS:
                driver.fillBacklog(server, drains[(r, n)], n, fillers, procs)
                results["drain%d" % n].append(driver.scenarioDrain(server, drains[(r, n)],
                                                                   n)["seconds"])
            sys.stderr.write("[%s] %s rep %d: %s\n" % (
                time.strftime("%H:%M:%S"), backend, r,
                ", ".join("%s %.3f" % (k, v[-1]) for k, v in results.items())))
        results["peak_rss_mib"] = [peakRss(server.process.pid)]
        return results
    finally:
        server.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,mysql")
    parser.add_argument("--procs", type=int, default=1)
    args = parser.parse_args(argv)
    rows = []
    for backend in args.backends.split(","):
        results = measure(backend, args.reps, args.procs)
        rows.append((backend, {k: statistics.median(v) for k, v in results.items()}))
    print("| backend | stored msg/s | drain 100 (s) | drain 10,000 (s) | peak RSS (MiB) |")
    print("|---|---|---|---|---|")
    for backend, m in rows:
        print("| xmppd-%s | %.0f | %.3f | %.2f | %.0f |" % (
            backend, m["store"], m["drain100"], m["drain10000"], m["peak_rss_mib"]))
    print("(medians of %d runs)" % args.reps)


if __name__ == "__main__":
    main()
