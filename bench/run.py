"""
Benchmarks: xmppd (SQLite, MariaDB) against Prosody and ejabberd.

    python3 -m bench.run                      # everything, 3 repetitions, the table
    python3 -m bench.run --servers xmppd-sqlite,prosody --scenarios store,drain --reps 1
    python3 -m bench.run --procs 2            # load from two processes
    python3 -m bench.run --profile DIR        # py-spy xmppd during each scenario

Each server is started fresh on its own loopback port, its users are created
by in-band registration (XEP-0077, over TLS), every scenario runs ``--reps``
times on its own accounts, the servers taking turns (all of them are up
during the main table; each scenario of a repetition runs on one server
after the other, the first rotating), and the report gives, per metric, the median with
the spread (min–max), xmppd's ratio of medians to each peer (> 1 means xmppd
is better; for times and memory, the peer's figure over xmppd's), each of
issue 15's goals as met or not, and the growth table. Prosody and ejabberd
come from ``--peers`` (default ``bench/peers``: their configs and launch
scripts ship with the repository).

The growth scenarios measure the store 5×1,000 and the 10,000 drain on a
grown server against an empty control measured alike: for each kind, two
servers of the same build start side by side on fresh storage and register
as many accounts each; one grows while the other waits; both settle their
storage (``Server.settle``); then each runs a warm-up store that is not
counted and ``--grow-reps`` rounds of store and drain (default ``--reps``,
at least 7: one store lasts half a second), the two taking turns (control
first, then grown first, ...), so that the machine's changing load and the
processes' age reach both sides alike. Every round has accounts of its
own. ``grow-sessions`` grows by ``--grow-sessions`` authenticated sessions
idling (held by one client process, initial presence sent, pings
answered), ``grow-rows`` by ``--grow-rows`` offline messages for 10,000
other accounts written straight into the server's storage in bulk. The
growth table and its goals compare each grown server with its own control,
never with the main table's empty figures, which come from other processes
at other times.

``--quick`` runs every scenario once at reduced sizes (a fifth of the
messages, drains up to 1,000, 500 idle sessions, growth by 1,000 sessions
and 100,000 rows, 2 growth rounds per side), the whole table in under 5
minutes, to see a trend rather than to quote a figure.
"""

import argparse
import json
import os
import resource
import shutil
import sys
import time

from bench import driver
from bench.plan import (ALL_SCENARIOS, ALL_SERVERS, CLUSTER_SERVERS, DRAIN_SIZES, DRIVER_SERVERS,
                        GROW_ACCOUNTS, QUICK, WARM_UP, Plan, controlOf)
from bench.report import pooled, report
from bench.servers import REPO, makeServer, newWorkDir


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


def recorder(name, results, loads):
    """Where ``name``'s figures go, each logged with the load it was measured at."""
    def record(key, value):
        load = loadAverage()
        results.setdefault(name, {}).setdefault(key, []).append(value)
        loads.setdefault(name, []).append(float(load.split()[0]))
        log("%s: %s = %.3f   (load %s)" % (name, key, value, load))
    return record


def runAll(plan, workDir, results, loads):
    args = plan.args
    recorders = {name: recorder(name, results, loads) for name in args.servers}
    mainScenarios = [s for s in args.scenarios if not s.startswith("grow-")]
    if mainScenarios:
        runMainTable(plan, workDir, mainScenarios, recorders)
    for name in args.servers:
        # Sessions first, then rows, each on servers of its own.
        for kind in sorted(plan.growthKinds, key=["sessions", "rows"].index):
            try:
                growthPhase(name, plan, kind, os.path.join(workDir, "grow-" + kind),
                            recorders[name])
            except Exception as e:
                log("%s failed: %s" % (name, e))


def runMainTable(plan, workDir, mainScenarios, recorders):
    """
    The main table's scenarios, ``--reps`` times, interleaved: every server
    is up at once, each scenario of a repetition runs on every server in
    turn, and the server that goes first rotates. The machine's speed has
    moved by half within half an hour; run one server after the other and
    such a change lands on whichever ran last, as a ratio that is not
    theirs. Interleaved, it reaches every server alike. Each repetition
    starts on fresh processes: a server that just held thousands of idle
    sessions is not where the next one started.
    """
    args = plan.args
    running = []

    def failed(name, server, error):
        log("%s failed: %s" % (name, error))
        running.remove((name, server))
        server.stop()
        log("%s: stopped" % name)

    for name in args.servers:
        server = makeServer(name, workDir, args.peers)
        log("%s: starting" % name)
        running.append((name, server))
        try:
            server.start()
            driver.waitReady(server.port)
            users = plan.mainUsers() + plan.idleUsers()
            # xmppd keeps its accounts across restarts: all at once. The peers
            # wipe theirs: each repetition registers what it uses after its restart.
            register(server, users if server.keepsDataOnRestart else plan.mainUsers(),
                     args.procs)
        except Exception as e:
            failed(name, server, e)
    try:
        turn = 0
        for rep in range(args.reps):
            for name, server in list(running) if rep > 0 else ():
                try:
                    freshProcess(server, plan.mainUsers(), args.procs)
                except Exception as e:
                    failed(name, server, e)
            for scenario in mainScenarios:
                first = turn % max(1, len(running))
                turn += 1
                for name, server in running[first:] + running[:first]:
                    others = [other for _n, other in running if other is not server]
                    try:
                        runTurn(server, others, scenario, rep, plan, recorders[name])
                    except Exception as e:
                        failed(name, server, e)
    finally:
        for name, server in running:
            server.stop()
            log("%s: stopped" % name)


def runTurn(server, others, scenario, rep, plan, record):
    """
    ``scenario`` on ``server`` while ``others`` wait: once all of them are
    quiet, with what the others spent during it logged.
    """
    args = plan.args
    profile = None
    if args.profile and hasattr(server, "startProfile"):
        os.makedirs(args.profile, exist_ok=True)
        profile = os.path.join(args.profile, "%s-%s-%d.txt" % (server.name, scenario, rep))
    share = waitQuiet([server] + others)
    if share >= 0.05:
        log("%s %s: the servers still use %.0f%% of a core; measuring anyway"
            % (server.name, scenario, 100 * share))
    before, started = serversCpu(others), time.monotonic()
    for key, value in runScenario(server, scenario, rep, plan, profile):
        record(key, value)
    log("%s %s: the servers waiting their turn used %.1f%% of a core" % (
        server.name, scenario, 100 * (serversCpu(others) - before) / (time.monotonic() - started)))


def serversCpu(servers):
    """CPU seconds of ``servers``, their own databases included."""
    return sum(s.cpu() + (s.databaseCpu() or 0) for s in servers)


def waitQuiet(servers, budget=0.05, window=0.25, timeout=15):
    """
    Wait until ``servers`` together spend less than ``budget`` of a core
    over ``window`` seconds, or ``timeout`` passes: a server still closing
    the sessions of the scenario it just ran (their logouts write to its
    database) would otherwise spend its CPU in the next server's
    measurement. Returns the share of a core last seen.
    """
    deadline = time.monotonic() + timeout
    while True:
        before, started = serversCpu(servers), time.monotonic()
        time.sleep(window)
        share = (serversCpu(servers) - before) / (time.monotonic() - started)
        if share < budget or time.monotonic() > deadline:
            return share


def freshProcess(server, users, procs):
    server.restart()
    driver.waitReady(server.port)
    if not server.keepsDataOnRestart:
        register(server, users, procs)
    time.sleep(1)


def growthRound(server, plan, phase, rep, record):
    """Phase ``phase``'s store 5×1,000 and its drain (the warm-up: only the store)."""
    args = plan.args

    def profiled(name, fn, *a):
        profile = None
        if args.profile and hasattr(server, "startProfile") and rep != WARM_UP:
            os.makedirs(args.profile, exist_ok=True)
            profile = os.path.join(args.profile, "%s-grow-%s-%s-%s.txt"
                                   % (server.name, phase, name, rep))
        return runProfiled(server, profile, fn, *a)

    for key, (_s, _r, messages) in plan.growthShapes().items():
        r = profiled(key[5:], driver.scenarioStore, server, plan.storeSenders[phase, rep, key],
                     plan.storeRecipients[phase, rep, key], messages, args.procs)
        cpuPerMessage = 1e6 * r["server_cpu"] / r["stored_per_s"]
        log("%s %s.%s%s: %.0f stored/s, server CPU %.0f%% of one core, %.0f µs CPU per message%s"
            % (server.name, phase, key, " (warm-up, not counted)" if rep == WARM_UP else "",
               r["stored_per_s"], 100 * r["server_cpu"], cpuPerMessage, databaseCpu(r)))
        if rep != WARM_UP:
            record("%s.%s" % (phase, key), r["stored_per_s"])
            record("%s.%s.cpu" % (phase, key), cpuPerMessage)
    if rep == WARM_UP:
        return
    n = plan.growthDrain()
    driver.fillBacklog(server, plan.drainUsers[phase, rep, n], n, plan.fillSenders, args.procs)
    r = profiled("drain%d" % n, driver.scenarioDrain, server, plan.drainUsers[phase, rep, n], n)
    if r["database_cpu"] is not None:
        log("%s %s.drain%d: MariaDB %.1f µs CPU per message" % (
            server.name, phase, n, 1e6 * r["database_cpu"] / n))
    record("%s.drain%d" % (phase, n), r["seconds"])
    record("%s.drain%d.cpu" % (phase, n), 1e6 * r["server_cpu"] / n)
    record("%s.load" % phase, float(loadAverage().split()[0]))


def databaseCpu(result):
    """
    For the log: of a store's CPU per message, the event loop's share (the
    rest is the server's other threads, SQLite's among them), and MariaDB's.
    """
    text = ""
    reactor = result.get("reactor_cpu_per_message")
    if reactor is not None:
        text += " (reactor %.0f µs)" % (1e6 * reactor)
    database = result.get("database_cpu_per_message")
    if database is not None:
        text += ", MariaDB %.0f µs" % (1e6 * database)
    return text


def growthPhase(name, plan, kind, workDir, record):
    """
    ``kind``'s grown server against its control: two servers of the same
    build started side by side on fresh storage, the same number of
    accounts registered on each; one grows while the other waits; both
    settle; then each runs a warm-up store and ``plan.growthReps()`` rounds,
    the two taking turns (control first, then grown first, and so on), so
    that a change in the machine's load or in the processes' age reaches
    both sides alike.
    """
    args = plan.args
    sides = []
    try:
        for phase in (controlOf(kind), kind):
            sideDir = os.path.join(workDir, phase.replace(".", "-"))
            os.makedirs(sideDir, exist_ok=True)
            # The peers drop to users of their own, who must reach their run dirs.
            for d in (workDir, sideDir):
                os.chmod(d, 0o755)
            server = makeServer(name, sideDir, args.peers)
            sides.append((phase, server))
            log("%s: starting the %s server" % (name, phase))
            server.start()
            driver.waitReady(server.port)
            register(server, plan.growUsers(kind, phase), args.procs)
            if kind == "rows":
                # Prosody's prefill copies a real stored item of the template account.
                driver.fillBacklog(server, plan.template, 1, plan.fillSenders[:1], args.procs)
        with grown(sides[1][1], plan, kind):
            for phase, server in sides:
                started = time.monotonic()
                server.settle()
                log("%s: %s storage settled in %.1f s" % (name, phase,
                                                          time.monotonic() - started))
            time.sleep(1)
            for phase, server in sides:
                growthRound(server, plan, phase, WARM_UP, record)
            for rep in range(plan.growthReps()):
                for phase, server in (sides if rep % 2 == 0 else sides[::-1]):
                    growthRound(server, plan, phase, rep, record)
    finally:
        for phase, server in sides:
            server.stop()
            log("%s: the %s server stopped" % (name, phase))


class grown:
    """The growth of ``kind`` on ``server`` for the time of a ``with`` block."""

    def __init__(self, server, plan, kind):
        self.server, self.plan, self.kind = server, plan, kind
        self.sessions = None

    def __enter__(self):
        server, args = self.server, self.plan.args
        started = time.monotonic()
        if self.kind == "rows":
            accounts = min(GROW_ACCOUNTS, args.grow_rows)
            server.prefill(args.grow_rows, accounts, self.plan.template)
            log("%s: %d rows for %d other accounts written in %.1f s" % (
                server.name, args.grow_rows, accounts, time.monotonic() - started))
        else:
            before = server.rss()
            self.sessions = driver.IdleSessions(server, self.plan.growSessions, args.procs)
            self.sessions.open()
            log("%s: %d idle sessions open after %.1f s, RSS %.1f -> %.1f MiB" % (
                server.name, len(self.plan.growSessions), time.monotonic() - started,
                before / 2**20, server.rss() / 2**20))
        return self

    def __exit__(self, *exc):
        if self.sessions is not None:
            self.sessions.close()
        return False


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
                " server CPU %.0f%% of one core, %.0f µs CPU per message%s"
                % (server.name, key, r["send_seconds"], r["seconds"], 100 * r["server_cpu"],
                   1e6 * r["server_cpu"] / r["stored_per_s"], databaseCpu(r)))
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
        # Adjacent 10 s figures of one server differ by up to 1.4x on this
        # machine: several rounds per repetition, as for route.
        base = profile
        for k in range(args.login_rounds):
            if base:
                profile = base.replace(".txt", "-%d.txt" % k)
            r = profiled(driver.scenarioLogin, server, plan.loginUsers, args.login_seconds,
                         args.procs)
            if r["errors"]:
                log("%s login: %d errors, first: %s" % (server.name, r["errors"],
                                                        r["firstError"]))
            if r["cpu_per_login"] is not None:
                log("%s login: %d logins, server CPU %.0f%% of one core, %.0f µs CPU per login;"
                    " load generator %.0f%% of a core, %.0f µs per login"
                    % (server.name, r["logins"], 100 * r["server_cpu"], 1e6 * r["cpu_per_login"],
                       100 * r["client_cpu"], 1e6 * r["client_cpu_per_login"]))
            if r.get("reactor_cpu_per_login") is not None:
                log("%s login: event loop thread %.0f µs CPU per login"
                    % (server.name, 1e6 * r["reactor_cpu_per_login"]))
            yield "login", r["logins_per_s"]
    elif scenario == "route":
        # 20,000 messages take xmppd and ejabberd under a second, and one
        # such figure moves by up to 1.8x: several rounds per repetition.
        base = profile
        for k in range(args.route_rounds):
            if base:
                profile = base.replace(".txt", "-%d.txt" % k)
            r = profiled(driver.scenarioRoute, server, plan.routePairs[rep, k],
                         args.route_messages, args.procs)
            log("%s route: %d messages, server CPU %.0f%% of one core, %.0f µs CPU per message;"
                " load generator %.0f%% of a core, %.0f µs per message"
                % (server.name, r["received"], 100 * r["server_cpu"], 1e6 * r["cpu_per_message"],
                   100 * r["client_cpu"], 1e6 * r["client_cpu_per_message"]))
            yield "route", r["messages_per_s"]
    elif scenario == "idle":
        # Memory is measured on a fresh process: RSS freed by earlier
        # scenarios stays with the allocator and would hide the sessions.
        freshProcess(server, plan.idleUsers(), args.procs)
        r = driver.scenarioIdle(server, plan.idleSessions, args.procs)
        log("%s idle: RSS %.1f MiB -> %.1f MiB" % (server.name, r["rss_before_mib"],
                                                   r["rss_after_mib"]))
        yield "idle", r["kib_per_session"]


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
    p.add_argument("--login-rounds", type=int, default=3,
                   help="login measurements of --login-seconds each per repetition")
    p.add_argument("--route-pairs", type=int, default=50)
    p.add_argument("--route-messages", type=int, default=400, help="per pair")
    p.add_argument("--route-rounds", type=int, default=3,
                   help="route measurements per repetition, each on pairs of its own")
    p.add_argument("--idle-sessions", type=int, default=5000)
    p.add_argument("--idle-resources", type=int, default=5, help="sessions per account")
    p.add_argument("--grow-rows", type=int, default=1000000,
                   help="offline messages stored for other accounts before grow-rows")
    p.add_argument("--grow-sessions", type=int, default=10000,
                   help="idle sessions held open during grow-sessions")
    p.add_argument("--grow-drain", type=int, default=10000,
                   help="the backlog drained on a grown server")
    p.add_argument("--grow-reps", type=int, default=0,
                   help="counted growth rounds per side, empty and grown (default: --reps,"
                        " at least 7)")
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
    os.chmod(workDir, 0o755)
    results, loads = {}, {}
    loadStart = loadAverage()
    log("load average at start: %s; %d CPUs" % (loadStart, os.cpu_count()))
    try:
        runAll(plan, workDir, results, loads)
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
