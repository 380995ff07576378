"""
Benchmarks: xmppd (SQLite, MariaDB) against Prosody and ejabberd.

    python3 -m bench.run                      # everything, 3 repetitions, the table
    python3 -m bench.run --servers xmppd-sqlite,prosody --scenarios store,drain --reps 1
    python3 -m bench.run --procs 2            # load from two processes
    python3 -m bench.run --profile DIR        # py-spy xmppd during each scenario

Each server is started fresh on its own loopback port, its users are created
by in-band registration (XEP-0077, over TLS), every scenario runs ``--reps``
times on its own accounts, and the table shows the medians and xmppd's ratio
to each peer (> 1 means xmppd is better; for memory, the peer's KiB over
xmppd's). Prosody and ejabberd come from the shared peers scripts
(``--peers``, default ``bench/peers``: their configs and launch scripts
ship with the repository). ``--quick`` runs every scenario once at reduced
sizes, the whole table in a few minutes, to see a trend rather than to
quote a figure.
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import time

from bench import driver
from bench.servers import REPO, makeServer, newWorkDir

ALL_SERVERS = ["xmppd-sqlite", "xmppd-mysql", "prosody", "ejabberd"]
# Not in the default run: xmppd as a cluster of N nodes on one port
# (``--servers xmppd-mysql,xmppd-cluster1,xmppd-cluster2``).
CLUSTER_SERVERS = ["xmppd-cluster1", "xmppd-cluster2", "xmppd-cluster3"]
ALL_SCENARIOS = ["store", "drain", "login", "route", "idle"]
DRAIN_SIZES = [100, 1000, 10000]
# --quick: what a default run does at a fraction of its size (options given
# on the command line still win).
QUICK = {"reps": 1, "store_senders": 5, "store_recipients": 5, "store_messages": 200,
         "login_seconds": 4, "route_pairs": 20, "route_messages": 200,
         "idle_sessions": 1000}
FILL_SENDERS = 10

# metric key, label, unit, higher is better
METRICS = [
    ("store", "store: offline messages stored/s", True),
    ("drain100", "drain 100: s to last offline message", False),
    ("drain1000", "drain 1,000: s", False),
    ("drain10000", "drain 10,000: s", False),
    ("login", "login: logins/s (TLS+SCRAM+bind+roster+presence)", True),
    ("route", "route: live messages/s between online pairs", True),
    ("idle", "idle: KiB RSS per authenticated session", False),
]


class Plan:
    def __init__(self, args):
        self.args = args
        a = args
        self.storeSenders = {r: ["s%d.%d" % (r, i) for i in range(a.store_senders)]
                             for r in range(a.reps)}
        self.storeRecipients = {r: ["o%d.%d" % (r, j) for j in range(a.store_recipients)]
                                for r in range(a.reps)}
        self.drainUsers = {(r, n): "d%d.%d" % (r, n) for r in range(a.reps) for n in DRAIN_SIZES}
        self.fillSenders = ["f%d" % i for i in range(FILL_SENDERS)]
        self.loginUsers = ["l%d" % i for i in range(a.login_clients)]
        self.routePairs = [("a%d" % i, "b%d" % i) for i in range(a.route_pairs)]
        accounts = max(1, a.idle_sessions // a.idle_resources)
        self.idleSessions = [("i%d" % (k % accounts), "r%d" % (k // accounts))
                             for k in range(a.idle_sessions)]

    def users(self, scenarios):
        users = []
        if "store" in scenarios:
            for r in self.storeSenders:
                users += self.storeSenders[r] + self.storeRecipients[r]
        if "drain" in scenarios:
            users += list(self.drainUsers.values()) + self.fillSenders
        if "login" in scenarios:
            users += self.loginUsers
        if "route" in scenarios:
            users += [u for pair in self.routePairs for u in pair]
        if "idle" in scenarios:
            users += sorted({u for u, _r in self.idleSessions})
        return users


def log(message):
    sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), message))
    sys.stderr.flush()


def loadAverage():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def runServer(name, plan, workDir, results):
    args = plan.args
    server = makeServer(name, workDir, args.peers)
    log("%s: starting" % name)
    server.start()
    try:
        driver.waitReady(server.port)
        users = plan.users(args.scenarios)
        started = time.monotonic()
        driver.runOnly("register", server.port, dict(users=users), args.procs)
        log("%s: %d accounts registered in %.1f s" % (name, len(users),
                                                       time.monotonic() - started))
        for rep in range(args.reps):
            if rep > 0:
                # Each repetition on a fresh process: a server that just held
                # thousands of idle sessions is not where the next one started.
                freshProcess(server, plan)
            for scenario in args.scenarios:
                profile = None
                if args.profile and hasattr(server, "startProfile"):
                    os.makedirs(args.profile, exist_ok=True)
                    profile = os.path.join(args.profile, "%s-%s-%d.txt" % (name, scenario, rep))
                for key, value in runScenario(server, scenario, rep, plan, profile):
                    results.setdefault(name, {}).setdefault(key, []).append(value)
                    log("%s rep %d: %s = %.3f   (load %s)" % (name, rep, key, value,
                                                                loadAverage()))
    finally:
        server.stop()
        log("%s: stopped" % name)


def freshProcess(server, plan):
    server.restart()
    driver.waitReady(server.port)
    if not server.keepsDataOnRestart:
        driver.runOnly("register", server.port, dict(users=plan.users(plan.args.scenarios)),
                       plan.args.procs)
    time.sleep(1)


def runScenario(server, scenario, rep, plan, profile):
    args = plan.args

    def profiled(fn, *a):
        if profile:
            server.startProfile(profile)
        try:
            return fn(*a)
        finally:
            if profile:
                server.stopProfile()

    if scenario == "store":
        r = profiled(driver.scenarioStore, server, plan.storeSenders[rep],
                     plan.storeRecipients[rep], args.store_messages, args.procs)
        log("%s store: clients done sending after %.2f s, last stored after %.2f s,"
            " server CPU %.0f%% of one core, %.0f µs CPU per message"
            % (server.name, r["send_seconds"], r["seconds"], 100 * r["server_cpu"],
               1e6 * r["server_cpu"] * r["seconds"] / (r["stored_per_s"] * r["seconds"])))
        yield "store", r["stored_per_s"]
    elif scenario == "drain":
        base = profile
        for n in DRAIN_SIZES:
            if n > args.max_drain:
                continue
            driver.fillBacklog(server, plan.drainUsers[(rep, n)], n, plan.fillSenders,
                               args.procs)
            if base:
                profile = base.replace(".txt", "-%d.txt" % n)
            r = profiled(driver.scenarioDrain, server, plan.drainUsers[(rep, n)], n)
            yield "drain%d" % n, r["seconds"]
    elif scenario == "login":
        r = profiled(driver.scenarioLogin, server, plan.loginUsers, args.login_seconds,
                     args.procs)
        if r["errors"]:
            log("%s login: %d errors, first: %s" % (server.name, r["errors"], r["firstError"]))
        yield "login", r["logins_per_s"]
    elif scenario == "route":
        r = profiled(driver.scenarioRoute, server, plan.routePairs, args.route_messages,
                     args.procs)
        yield "route", r["messages_per_s"]
    elif scenario == "idle":
        # Memory is measured on a fresh process: RSS freed by earlier
        # scenarios stays with the allocator and would hide the sessions.
        freshProcess(server, plan)
        r = driver.scenarioIdle(server, plan.idleSessions, args.procs)
        log("%s idle: RSS %.1f MiB -> %.1f MiB" % (server.name, r["rss_before_mib"],
                                                   r["rss_after_mib"]))
        yield "idle", r["kib_per_session"]


def table(results, servers):
    xmppds = [s for s in servers if s.startswith("xmppd")]
    peers = [s for s in servers if not s.startswith("xmppd")]
    pairs = [(x, p) for x in xmppds for p in peers]
    if "xmppd-mysql" in servers:
        # A cluster against one node on the same MariaDB.
        pairs += [(c, "xmppd-mysql") for c in servers if c in CLUSTER_SERVERS]
    header = ["metric (median)"] + servers
    ratioHeads = []
    for x, p in pairs:
        ratioHeads.append("%s / %s" % (x.replace("xmppd-", "x-"), p.replace("xmppd-", "x-")))
    header += ratioHeads
    rows = []
    for key, label, higher in METRICS:
        medians = {}
        for s in servers:
            values = results.get(s, {}).get(key)
            if values:
                medians[s] = statistics.median(values)
        if not medians:
            continue
        row = [label] + [_fmt(medians.get(s)) for s in servers]
        for x, p in pairs:
            if x in medians and p in medians and medians[x] and medians[p]:
                ratio = medians[x] / medians[p] if higher else medians[p] / medians[x]
                row.append("%.2f×" % ratio)
            else:
                row.append("–")
        rows.append(row)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _fmt(value):
    if value is None:
        return "–"
    if value >= 100:
        return "%.0f" % value
    if value >= 10:
        return "%.1f" % value
    return "%.3f" % value


def raiseFileLimit(wanted=65536):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), max(hard, wanted)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def parseArgs(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--servers", default=",".join(ALL_SERVERS))
    p.add_argument("--scenarios", default=",".join(ALL_SCENARIOS))
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--procs", type=int, default=1, help="load processes (2 uses both cores)")
    p.add_argument("--peers", default=os.path.join(REPO, "bench", "peers"))
    p.add_argument("--quick", action="store_true",
                   help="one repetition at reduced sizes: the whole table in minutes")
    p.add_argument("--store-senders", type=int, default=20)
    p.add_argument("--store-recipients", type=int, default=50)
    p.add_argument("--store-messages", type=int, default=500, help="per sender")
    p.add_argument("--max-drain", type=int, default=10000)
    p.add_argument("--login-clients", type=int, default=20)
    p.add_argument("--login-seconds", type=float, default=10)
    p.add_argument("--route-pairs", type=int, default=50)
    p.add_argument("--route-messages", type=int, default=400, help="per pair")
    p.add_argument("--idle-sessions", type=int, default=5000)
    p.add_argument("--idle-resources", type=int, default=5, help="sessions per account")
    p.add_argument("--profile", metavar="DIR", help="py-spy xmppd into DIR")
    p.add_argument("--json", metavar="FILE", help="also write the raw results here")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    args = p.parse_args(argv)
    if args.quick:
        for name, value in QUICK.items():
            if getattr(args, name) == p.get_default(name):
                setattr(args, name, value)
    args.servers = [s for s in args.servers.split(",") if s]
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    for s in args.servers:
        if s not in ALL_SERVERS + CLUSTER_SERVERS:
            p.error("unknown server %s" % s)
    for s in args.scenarios:
        if s not in ALL_SCENARIOS:
            p.error("unknown scenario %s" % s)
    return args


def main(argv=None):
    args = parseArgs(argv)
    raiseFileLimit()
    plan = Plan(args)
    workDir = newWorkDir()
    results = {}
    log("load average at start: %s; %d CPUs" % (loadAverage(), os.cpu_count()))
    try:
        for name in args.servers:
            try:
                runServer(name, plan, workDir, results)
            except Exception as e:
                log("%s failed: %s" % (name, e))
    finally:
        if not args.keep:
            shutil.rmtree(workDir, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print()
    print("%d repetitions, medians; ratio > 1 means xmppd is better." % args.reps)
    print(table(results, args.servers))
    log("load average at end: %s" % loadAverage())


if __name__ == "__main__":
    main()
