"""
Benchmarks: xmppd (SQLite, MariaDB) against Prosody and ejabberd.

    python3 -m bench.run                      # everything, 3 repetitions, the table
    python3 -m bench.run --servers xmppd-sqlite,prosody --scenarios store,drain --reps 1
    python3 -m bench.run --procs 2            # load from two processes
    python3 -m bench.run --profile DIR        # py-spy xmppd during each scenario

Each server is started fresh on its own loopback port, its users are created
by in-band registration (XEP-0077, over TLS), every scenario runs ``--reps``
times on its own accounts, and the report gives, per metric, the median with
the spread (min–max), xmppd's ratio of medians to each peer (> 1 means xmppd
is better; for times and memory, the peer's figure over xmppd's), each of
issue 15's goals as met or not, and the growth table. Prosody and ejabberd
come from ``--peers`` (default ``bench/peers``: their configs and launch
scripts ship with the repository).

The growth scenarios run the store 5×1,000 and the 10,000 drain again on a
grown server and compare them with the same server's empty figure:
``grow-sessions`` with ``--grow-sessions`` authenticated sessions idling
(held by one client process, initial presence sent, pings answered), and
``grow-rows`` after ``--grow-rows`` offline messages for 10,000 other
accounts were written straight into the server's storage in bulk.

``--quick`` runs every scenario once at reduced sizes (a fifth of the
messages, 1,000 idle sessions, 100,000 grown rows, a 1,000 drain on the
grown server), the whole table in under 5 minutes, to see a trend rather
than to quote a figure.
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
XMPPDS = ["xmppd-sqlite", "xmppd-mysql"]
# Not in the default run: xmppd on MariaDB with one driver named, to compare them.
DRIVER_SERVERS = ["xmppd-pymysql", "xmppd-mysqlclient"]
PEERS = ["prosody", "ejabberd"]
ALL_SCENARIOS = ["store", "drain", "login", "route", "idle", "grow-rows", "grow-sessions"]
# Not in the default run: xmppd as a cluster of N nodes on one port
# (``--servers xmppd-mysql,xmppd-cluster1,xmppd-cluster2``).
CLUSTER_SERVERS = ["xmppd-cluster1", "xmppd-cluster2", "xmppd-cluster3"]
DRAIN_SIZES = [100, 1000, 10000]
# The store scenario's two shapes (issue 15): (senders, offline recipients,
# messages per sender).
STORE_SHAPES = {"store5x1000": (5, 5, 1000), "store20x500": (20, 50, 500)}
# --quick: what a default run does at a fraction of its size (options given
# on the command line still win).
QUICK = {"reps": 1, "store_scale": 0.2, "max_drain": 1000, "login_seconds": 4,
         "route_pairs": 20, "route_messages": 200, "idle_sessions": 500,
         "grow_rows": 100000, "grow_sessions": 1000, "grow_drain": 1000}
FILL_SENDERS = 10
# The growth scenario's stored rows go to this many other accounts.
GROW_ACCOUNTS = 10000
# Growth within this fraction of the empty server's figure meets the goal.
GROWTH_TOLERANCE = 0.10

# metric key, label, higher is better
METRICS = [
    ("store5x1000", "store 5×1,000 → 5 offline: stored/s", True),
    ("store20x500", "store 20×500 → 50 offline: stored/s", True),
    ("drain100", "drain 100: s to last offline message", False),
    ("drain1000", "drain 1,000: s", False),
    ("drain10000", "drain 10,000: s", False),
    ("login", "login: logins/s (TLS+SCRAM+bind+roster+presence)", True),
    ("route", "route: live messages/s between online pairs", True),
    ("idle", "idle: KiB RSS per authenticated session", False),
    ("rows.store5x1000", "grown by rows: store 5×1,000 → 5 offline: stored/s", True),
    ("rows.drain10000", "grown by rows: drain 10,000: s", False),
    ("sessions.store5x1000", "grown by sessions: store 5×1,000 → 5 offline: stored/s", True),
    ("sessions.drain10000", "grown by sessions: drain 10,000: s", False),
]
HIGHER = {key: higher for key, _label, higher in METRICS}

# Issue 15's goals: (metric, xmppd backend, peer, least ratio). A ratio is
# xmppd over the peer for rates, the peer over xmppd for times and memory.
GOALS = []
for _shape in STORE_SHAPES:
    GOALS += [(_shape, "xmppd-sqlite", "prosody", 2.0), (_shape, "xmppd-sqlite", "ejabberd", 4.0),
              (_shape, "xmppd-mysql", "prosody", 1.0), (_shape, "xmppd-mysql", "ejabberd", 2.0)]
for _x in XMPPDS:
    GOALS += [("drain10000", _x, "prosody", 5.0), ("drain10000", _x, "ejabberd", 1.5),
              ("login", _x, "ejabberd", 1.2), ("route", _x, "ejabberd", 1.0),
              ("idle", _x, "prosody", 1.0)]
# Growth goals: (grown metric, the empty server's metric), same server.
GROWTH = [("rows.store5x1000", "store5x1000"), ("rows.drain10000", "drain10000"),
          ("sessions.store5x1000", "store5x1000"), ("sessions.drain10000", "drain10000")]


class Plan:
    def __init__(self, args):
        self.args = args
        a = args
        self.shapes = {key: (max(1, senders), max(1, recipients),
                             max(1, int(round(messages * a.store_scale))))
                       for key, (senders, recipients, messages) in STORE_SHAPES.items()}
        # Accounts by (phase, rep): the main repetitions and each growth
        # phase store to and drain accounts of their own.
        self.phases = ["main"] + [p for p in ("rows", "sessions") if "grow-" + p in a.scenarios]
        self.storeSenders, self.storeRecipients, self.drainUsers = {}, {}, {}
        for phase in self.phases:
            tag = {"main": "", "rows": "gr", "sessions": "gs"}[phase]
            for r in range(a.reps):
                for key, (senders, recipients, _m) in self.shapes.items():
                    self.storeSenders[phase, r, key] = [
                        "%ss%s.%d.%d" % (tag, key[5:], r, i) for i in range(senders)]
                    self.storeRecipients[phase, r, key] = [
                        "%so%s.%d.%d" % (tag, key[5:], r, j) for j in range(recipients)]
                for n in DRAIN_SIZES:
                    self.drainUsers[phase, r, n] = "%sd%d.%d" % (tag, r, n)
        self.fillSenders = ["f%d" % i for i in range(FILL_SENDERS)]
        self.loginUsers = ["l%d" % i for i in range(a.login_clients)]
        # Pairs of their own per repetition: messages xmppd delivered after a
        # receiver's last answered acknowledgement probe are stored again
        # when it closes (nothing unacknowledged is lost), and on the same
        # accounts they would arrive at the next repetition's login, be
        # counted there and hold its first probe unanswered.
        self.routePairs = {r: [("a%d.%d" % (r, i), "b%d.%d" % (r, i)) for i in range(a.route_pairs)]
                           for r in range(a.reps)}
        # The idle scenario and the growth by sessions share their accounts.
        self.idleSessions = self.sessions("i", a.idle_sessions)
        self.growSessions = self.sessions("i", a.grow_sessions)
        # Prosody's prefill copies a stored item of this account's.
        self.template = "template"

    def sessions(self, prefix, count):
        accounts = max(1, count // self.args.idle_resources)
        return [("%s%d" % (prefix, k % accounts), "r%d" % (k // accounts))
                for k in range(count)]

    def growthShapes(self):
        return {"store5x1000": self.shapes["store5x1000"]}

    def growthDrain(self):
        return self.args.grow_drain

    def storeUsers(self, phase, shapes):
        return [u for (ph, _r, key), senders in self.storeSenders.items()
                if ph == phase and key in shapes
                for u in senders + self.storeRecipients[ph, _r, key]]

    def mainUsers(self):
        scenarios = self.args.scenarios
        users = []
        if "store" in scenarios:
            users += self.storeUsers("main", self.shapes)
        if "drain" in scenarios:
            users += [u for (ph, _r, n), u in self.drainUsers.items()
                      if ph == "main" and n <= self.args.max_drain]
            users += self.fillSenders
        if "login" in scenarios:
            users += self.loginUsers
        if "route" in scenarios:
            users += [u for pairs in self.routePairs.values() for pair in pairs for u in pair]
        return users

    def idleUsers(self):
        return sorted({u for u, _r in self.idleSessions}) if "idle" in self.args.scenarios else []

    def growUsers(self, phase):
        users = self.storeUsers(phase, self.growthShapes()) + self.fillSenders
        users += [u for (ph, _r, n), u in self.drainUsers.items()
                  if ph == phase and n == self.growthDrain()]
        if phase == "rows":
            users.append(self.template)
        else:
            users += sorted({u for u, _r in self.growSessions})
        return users

    def allUsers(self):
        users = self.mainUsers() + self.idleUsers()
        for phase in self.phases[1:]:
            users += self.growUsers(phase)
        return list(dict.fromkeys(users))


def log(message):
    sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), message))
    sys.stderr.flush()


def loadAverage():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def register(server, users, procs):
    users = list(dict.fromkeys(users))
    if users:
        started = time.monotonic()
        driver.runOnly("register", server.port, dict(users=users), procs)
        log("%s: %d accounts registered in %.1f s" % (server.name, len(users),
                                                       time.monotonic() - started))


def runServer(name, plan, workDir, results, loads):
    args = plan.args
    server = makeServer(name, workDir, args.peers)
    log("%s: starting" % name)
    server.start()

    def record(key, value):
        load = loadAverage()
        results.setdefault(name, {}).setdefault(key, []).append(value)
        loads.setdefault(name, []).append(float(load.split()[0]))
        log("%s: %s = %.3f   (load %s)" % (name, key, value, load))

    try:
        driver.waitReady(server.port)
        # xmppd keeps its accounts across restarts: all at once. The peers
        # wipe theirs: each phase registers what it uses after its restart.
        register(server, plan.allUsers() if server.keepsDataOnRestart else plan.mainUsers(),
                 args.procs)
        mainScenarios = [s for s in args.scenarios if not s.startswith("grow-")]
        for rep in range(args.reps if mainScenarios else 0):
            if rep > 0:
                # Each repetition on a fresh process: a server that just held
                # thousands of idle sessions is not where the next one started.
                freshProcess(server, plan.mainUsers(), args.procs)
            for scenario in mainScenarios:
                profile = None
                if args.profile and hasattr(server, "startProfile"):
                    os.makedirs(args.profile, exist_ok=True)
                    profile = os.path.join(args.profile, "%s-%s-%d.txt" % (name, scenario, rep))
                for key, value in runScenario(server, scenario, rep, plan, profile):
                    record(key, value)
        if "grow-sessions" in args.scenarios:
            growBySessions(server, plan, record)
        if "grow-rows" in args.scenarios:
            growByRows(server, plan, record)
    finally:
        server.stop()
        log("%s: stopped" % name)


def freshProcess(server, users, procs):
    server.restart()
    driver.waitReady(server.port)
    if not server.keepsDataOnRestart:
        register(server, users, procs)
    time.sleep(1)


def growthRound(server, plan, phase, rep):
    """The empty server's store 5×1,000 and largest drain, on a grown server."""
    args = plan.args

    def profiled(name, fn, *a):
        profile = None
        if args.profile and hasattr(server, "startProfile"):
            os.makedirs(args.profile, exist_ok=True)
            profile = os.path.join(args.profile, "%s-grow-%s-%s-%d.txt"
                                   % (server.name, phase, name, rep))
        return runProfiled(server, profile, fn, *a)

    for key, (_s, _r, messages) in plan.growthShapes().items():
        r = profiled(key[5:], driver.scenarioStore, server, plan.storeSenders[phase, rep, key],
                     plan.storeRecipients[phase, rep, key], messages, args.procs)
        log("%s %s.%s: server CPU %.0f%% of one core, %.0f µs CPU per message"
            % (server.name, phase, key, 100 * r["server_cpu"],
               1e6 * r["server_cpu"] / r["stored_per_s"]))
        yield "%s.%s" % (phase, key), r["stored_per_s"]
    n = plan.growthDrain()
    driver.fillBacklog(server, plan.drainUsers[phase, rep, n], n, plan.fillSenders, args.procs)
    r = profiled("drain%d" % n, driver.scenarioDrain, server, plan.drainUsers[phase, rep, n], n)
    yield "%s.drain%d" % (phase, n), r["seconds"]


def growBySessions(server, plan, record):
    """Store and drain while ``--grow-sessions`` authenticated sessions idle."""
    args = plan.args
    freshProcess(server, plan.growUsers("sessions"), args.procs)
    before = server.rss()
    started = time.monotonic()
    sessions = driver.IdleSessions(server, plan.growSessions, args.procs)
    sessions.open()
    try:
        log("%s: %d idle sessions open after %.1f s, RSS %.1f -> %.1f MiB" % (
            server.name, len(plan.growSessions), time.monotonic() - started,
            before / 2**20, server.rss() / 2**20))
        time.sleep(1)
        for rep in range(args.reps):
            for key, value in growthRound(server, plan, "sessions", rep):
                record(key, value)
    finally:
        sessions.close()


def growByRows(server, plan, record):
    """Store and drain with ``--grow-rows`` offline messages stored for others."""
    args = plan.args
    freshProcess(server, plan.growUsers("rows"), args.procs)
    # Prosody's prefill copies a real stored item of the template account.
    driver.fillBacklog(server, plan.template, 1, plan.fillSenders[:1], args.procs)
    started = time.monotonic()
    server.prefill(args.grow_rows, min(GROW_ACCOUNTS, args.grow_rows), plan.template)
    log("%s: %d rows for %d other accounts written in %.1f s" % (
        server.name, args.grow_rows, min(GROW_ACCOUNTS, args.grow_rows),
        time.monotonic() - started))
    time.sleep(1)
    for rep in range(args.reps):
        for key, value in growthRound(server, plan, "rows", rep):
            record(key, value)


def runProfiled(server, profile, fn, *a):
    """``fn(*a)``, with py-spy recording the server into ``profile`` if one is named."""
    if profile:
        server.startProfile(profile)
    try:
        return fn(*a)
    finally:
        if profile:
            server.stopProfile()


def runScenario(server, scenario, rep, plan, profile):
    args = plan.args

    def profiled(fn, *a):
        return runProfiled(server, profile, fn, *a)

    if scenario == "store":
        base = profile
        for key, (_s, _r, messages) in plan.shapes.items():
            if base:
                profile = base.replace(".txt", "-%s.txt" % key[5:])
            r = profiled(driver.scenarioStore, server, plan.storeSenders["main", rep, key],
                         plan.storeRecipients["main", rep, key], messages, args.procs)
            log("%s %s: clients done sending after %.2f s, last stored after %.2f s,"
                " server CPU %.0f%% of one core, %.0f µs CPU per message"
                % (server.name, key, r["send_seconds"], r["seconds"], 100 * r["server_cpu"],
                   1e6 * r["server_cpu"] / r["stored_per_s"]))
            yield key, r["stored_per_s"]
    elif scenario == "drain":
        base = profile
        for n in DRAIN_SIZES:
            if n > args.max_drain:
                continue
            driver.fillBacklog(server, plan.drainUsers["main", rep, n], n, plan.fillSenders,
                               args.procs)
            if base:
                profile = base.replace(".txt", "-%d.txt" % n)
            r = profiled(driver.scenarioDrain, server, plan.drainUsers["main", rep, n], n)
            log("%s drain%d: server CPU %.0f µs per message" % (
                server.name, n, 1e6 * r["server_cpu"] / n))
            yield "drain%d" % n, r["seconds"]
    elif scenario == "login":
        r = profiled(driver.scenarioLogin, server, plan.loginUsers, args.login_seconds,
                     args.procs)
        if r["errors"]:
            log("%s login: %d errors, first: %s" % (server.name, r["errors"], r["firstError"]))
        if r["cpu_per_login"] is not None:
            log("%s login: %d logins, server CPU %.0f%% of one core, %.0f µs CPU per login"
                % (server.name, r["logins"], 100 * r["server_cpu"], 1e6 * r["cpu_per_login"]))
        yield "login", r["logins_per_s"]
    elif scenario == "route":
        r = profiled(driver.scenarioRoute, server, plan.routePairs[rep], args.route_messages,
                     args.procs)
        log("%s route: %d messages, server CPU %.0f%% of one core, %.0f µs CPU per message"
            % (server.name, r["received"], 100 * r["server_cpu"], 1e6 * r["cpu_per_message"]))
        yield "route", r["messages_per_s"]
    elif scenario == "idle":
        # Memory is measured on a fresh process: RSS freed by earlier
        # scenarios stays with the allocator and would hide the sessions.
        freshProcess(server, plan.idleUsers(), args.procs)
        r = driver.scenarioIdle(server, plan.idleSessions, args.procs)
        log("%s idle: RSS %.1f MiB -> %.1f MiB" % (server.name, r["rss_before_mib"],
                                                   r["rss_after_mib"]))
        yield "idle", r["kib_per_session"]


# The report -----------------------------------------------------------------------

def metricsOf(plan):
    """METRICS with the sizes this run used."""
    n = plan.growthDrain()
    metrics = []
    for k, label, higher in METRICS:
        if k.endswith(".drain10000"):
            continue
        shape = k.rpartition(".")[2]
        if shape in plan.shapes:
            label = label.replace(shapeName(STORE_SHAPES[shape]), shapeName(plan.shapes[shape]))
        metrics.append((k, label, higher))
    label = "drain %s: s" % format(n, ",")
    metrics += [("rows.drain%d" % n, "grown by rows: " + label, False),
                ("sessions.drain%d" % n, "grown by sessions: " + label, False)]
    return metrics


def shapeName(shape):
    senders, recipients, messages = shape
    return "%d×%s → %d" % (senders, format(messages, ","), recipients)


def growthPairs(plan):
    n = plan.growthDrain()
    return [("rows.store5x1000", "store5x1000"), ("rows.drain%d" % n, "drain%d" % n),
            ("sessions.store5x1000", "store5x1000"), ("sessions.drain%d" % n, "drain%d" % n)]


def ratio(results, key, higher, a, b):
    """a's figure over b's (rates) or b's over a's (times, memory); > 1: a is better."""
    va, vb = results.get(a, {}).get(key), results.get(b, {}).get(key)
    if not va or not vb:
        return None
    ma, mb = statistics.median(va), statistics.median(vb)
    if not ma or not mb:
        return None
    return ma / mb if higher else mb / ma


def cell(values):
    if not values:
        return "–"
    text = _fmt(statistics.median(values))
    if len(values) > 1:
        text += " (%s–%s)" % (_fmt(min(values)), _fmt(max(values)))
    return text


def table(results, servers, plan):
    xmppds = [s for s in servers if s.startswith("xmppd")]
    peers = [s for s in servers if not s.startswith("xmppd")]
    header = ["metric: median (min–max)"] + servers
    pairs = [(x, p) for x in xmppds for p in peers]
    if "xmppd-mysql" in servers:
        # A cluster against one node on the same MariaDB.
        pairs += [(c, "xmppd-mysql") for c in servers if c in CLUSTER_SERVERS]
    header += ["%s / %s" % (x.replace("xmppd-", "x-"), p.replace("xmppd-", "x-"))
               for x, p in pairs]
    rows = []
    for key, label, higher in metricsOf(plan):
        if not any(results.get(s, {}).get(key) for s in servers):
            continue
        row = [label] + [cell(results.get(s, {}).get(key)) for s in servers]
        for x, p in pairs:
            r = ratio(results, key, higher, x, p)
            row.append("–" if r is None else "%.2f×" % r)
        rows.append(row)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def goalLines(results, servers, plan):
    labels = {k: label.split(":")[0] for k, label, _h in metricsOf(plan)}
    largestDrain = "drain%d" % max(n for n in DRAIN_SIZES if n <= plan.args.max_drain)
    lines = []
    for key, x, peer, least in GOALS:
        if key == "drain10000":
            # The goal's drain is 10,000; --quick drains less.
            key = largestDrain
        if x not in servers or peer not in servers:
            continue
        r = ratio(results, key, HIGHER[key], x, peer)
        if r is None:
            continue
        lines.append("- %s, %s / %s: %.2f× (goal ≥ %g×): %s" % (
            labels[key], x, peer, r, least, "met" if r >= least else "NOT met"))
    return lines


def growthTable(results, servers, plan):
    higherOf = {k: h for k, _l, h in metricsOf(plan)}
    labels = {k: label for k, label, _h in metricsOf(plan)}
    lines = ["| server | metric | empty server | grown by %s rows | ratio | grown by %s sessions"
             " | ratio |" % (format(plan.args.grow_rows, ","), format(plan.args.grow_sessions, ",")),
             "|---|---|---|---|---|---|---|"]
    verdicts = []
    for s in servers:
        byEmpty = {}
        for grown, empty in growthPairs(plan):
            byEmpty.setdefault(empty, []).append(grown)
        for empty, growns in byEmpty.items():
            emptyValues = results.get(s, {}).get(empty)
            if not emptyValues or not any(results.get(s, {}).get(g) for g in growns):
                continue
            row = [s, labels[empty].split(":")[0], cell(emptyValues)]
            for grown in growns:
                values = results.get(s, {}).get(grown)
                row.append(cell(values))
                if not values:
                    row.append("–")
                    continue
                e, g = statistics.median(emptyValues), statistics.median(values)
                r = g / e if higherOf[empty] else e / g
                row.append("%.2f×" % r)
                if s.startswith("xmppd"):
                    verdicts.append("- %s, %s: %.2f× of the empty server (goal ≥ %.2f×): %s" % (
                        s, labels[grown].split(":")[0] + ":" + labels[grown].split(":")[1],
                        r, 1 - GROWTH_TOLERANCE,
                        "met" if r >= 1 - GROWTH_TOLERANCE else "NOT met"))
            lines.append("| " + " | ".join(row) + " |")
    return lines, verdicts


def _fmt(value):
    if value is None:
        return "–"
    if value >= 100:
        return "%.0f" % value
    if value >= 10:
        return "%.1f" % value
    return "%.3f" % value


def report(results, loads, servers, plan, loadStart, loadEnd):
    args = plan.args
    out = ["", "%d repetition%s, medians (min–max); ratio > 1 means xmppd is better."
           % (args.reps, "" if args.reps == 1 else "s"),
           "1-minute load average: %s at start, %s at end; during the measurements %s."
           % (loadStart, loadEnd, ", ".join(
               "%s %.2f–%.2f" % (s, min(loads[s]), max(loads[s])) for s in servers
               if loads.get(s))),
           "", table(results, servers, plan)]
    goals = goalLines(results, servers, plan)
    if goals:
        out += ["", "Goals (issue 15), ratios of medians:"] + goals
    growth, verdicts = growthTable(results, servers, plan)
    if len(growth) > 2:
        out += ["", "Growth: each server against its own empty-server figure"
                " (ratio > 1: faster when grown)."] + growth + [""] + verdicts
    return "\n".join(out)


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
    p.add_argument("--store-scale", type=float, default=1.0,
                   help="messages per sender, as a fraction of the shapes' 1,000 and 500")
    p.add_argument("--max-drain", type=int, default=10000)
    p.add_argument("--login-clients", type=int, default=20)
    p.add_argument("--login-seconds", type=float, default=10)
    p.add_argument("--route-pairs", type=int, default=50)
    p.add_argument("--route-messages", type=int, default=400, help="per pair")
    p.add_argument("--idle-sessions", type=int, default=5000)
    p.add_argument("--idle-resources", type=int, default=5, help="sessions per account")
    p.add_argument("--grow-rows", type=int, default=1000000,
                   help="offline messages stored for other accounts before grow-rows")
    p.add_argument("--grow-sessions", type=int, default=10000,
                   help="idle sessions held open during grow-sessions")
    p.add_argument("--grow-drain", type=int, default=10000,
                   help="the backlog drained on a grown server")
    p.add_argument("--profile", metavar="DIR", help="py-spy xmppd into DIR")
    p.add_argument("--json", metavar="FILE", help="also write the raw results here")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--report", metavar="FILE,...",
                   help="measure nothing: print the report of --json files, their"
                        " repetitions pooled (the other options must match their runs)")
    args = p.parse_args(argv)
    if args.quick:
        for name, value in QUICK.items():
            if getattr(args, name) == p.get_default(name):
                setattr(args, name, value)
    args.servers = [s for s in args.servers.split(",") if s]
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    for s in args.servers:
        if s not in ALL_SERVERS + DRIVER_SERVERS + CLUSTER_SERVERS:
            p.error("unknown server %s" % s)
    for s in args.scenarios:
        if s not in ALL_SCENARIOS:
            p.error("unknown scenario %s" % s)
    if args.grow_drain not in DRAIN_SIZES:
        p.error("--grow-drain must be one of %s" % DRAIN_SIZES)
    return args


def pooled(paths):
    """The results and loads of several --json files, repetitions appended."""
    results, loads, starts, ends = {}, {}, [], []
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        for server, metrics in data["results"].items():
            for key, values in metrics.items():
                results.setdefault(server, {}).setdefault(key, []).extend(values)
        for server, values in data["loads"].items():
            loads.setdefault(server, []).extend(values)
        starts.append(data["load_start"])
        ends.append(data["load_end"])
    return results, loads, " / ".join(starts), " / ".join(ends)


def main(argv=None):
    args = parseArgs(argv)
    plan = Plan(args)
    if args.report:
        results, loads, loadStart, loadEnd = pooled(args.report.split(","))
        servers = [s for s in args.servers if s in results]
        print(report(results, loads, servers, plan, loadStart, loadEnd))
        return
    raiseFileLimit()
    workDir = newWorkDir()
    results, loads = {}, {}
    loadStart = loadAverage()
    log("load average at start: %s; %d CPUs" % (loadStart, os.cpu_count()))
    try:
        for name in args.servers:
            try:
                runServer(name, plan, workDir, results, loads)
            except Exception as e:
                log("%s failed: %s" % (name, e))
    finally:
        if not args.keep:
            shutil.rmtree(workDir, ignore_errors=True)
    loadEnd = loadAverage()
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"results": results, "loads": loads, "load_start": loadStart,
                       "load_end": loadEnd, "args": vars(args)}, f, indent=1)
    print(report(results, loads, args.servers, plan, loadStart, loadEnd))
    log("load average at end: %s" % loadEnd)


if __name__ == "__main__":
    main()
