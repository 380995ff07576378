"""
The load scenarios. The client side always runs in ``procs`` child processes
(asyncio, many connections each); the parent only starts them, releases them
together through a barrier, and measures -- polling the server's storage
for ``store``, reading the server's RSS for ``idle``.

Every loop is bounded in count and in time, and every connection goes to
127.0.0.1.
"""

import asyncio
import multiprocessing
import time
import traceback

from bench.client import Client, XMPPError

PASSWORD = "benchpass"
CONCURRENCY = 40          # logins in flight per process
PHASE_TIMEOUT = 600       # no phase of a scenario may take longer
REGISTER_ATTEMPTS = 5


def now():
    return time.monotonic()


def shard(items, index, count):
    return items[index::count]


async def _bounded(coros, limit):
    semaphore = asyncio.Semaphore(limit)

    async def one(coro):
        async with semaphore:
            return await coro
    return await asyncio.gather(*(one(c) for c in coros))


async def _login(port, user, resource="bench", roster=True, presence=False):
    client = await Client.connect(port)
    await client.login(user, PASSWORD, resource, roster=roster)
    if presence:
        client.send("<presence/>")
        await client.ping()
    return client


async def _sendMessages(client, recipients, count, tag):
    """``count`` chat messages round-robin over ``recipients``, paced by TCP."""
    for k in range(count):
        client.send("<message to='%s@localhost' type='chat' id='%s%d'><body>bench message"
                    " %d from %s</body></message>" % (recipients[k % len(recipients)], tag, k, k, tag))
        if k % 50 == 49:
            await client.writer.drain()
    await client.writer.drain()


async def _probe(port):
    """True once the server offers in-band registration after STARTTLS."""
    client = await Client.connect(port)
    try:
        await client.open()
        await client.starttls()
        return client.features.find(
            "{http://jabber.org/features/iq-register}register") is not None
    finally:
        await client.close()


def waitReady(port, timeout=60):
    """
    Wait until the server's modules are up, not just its port: xmppd opens
    its listener before the database (MariaDB) is ready, and a client that
    comes in between is refused registration.
    """
    deadline = now() + timeout
    while True:
        try:
            if asyncio.run(_probe(port)):
                return
        except Exception:
            pass
        if now() > deadline:
            raise RuntimeError("the server on port %d offers no registration after %d s"
                               % (port, timeout))
        time.sleep(0.2)


# Child-process workers -------------------------------------------------------------

async def _register(port, args, index, procs, sync):
    names = shard(args["users"], index, procs)

    async def one(name):
        # A server just restarted on a loaded machine may still close a
        # stream or two (ejabberd did): try again, a few times.
        for attempt in range(REGISTER_ATTEMPTS):
            try:
                client = await Client.connect(port)
                try:
                    await client.register(name, PASSWORD)
                finally:
                    await client.close()
                return
            except (XMPPError, OSError, asyncio.TimeoutError):
                if attempt == REGISTER_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.5 * (attempt + 1))
    await _bounded([one(n) for n in names], 16)
    return {"registered": len(names)}


async def _store(port, args, index, procs, sync):
    """Senders log in, wait for the start, send M messages each, then idle."""
    senders = shard(args["senders"], index, procs)
    clients = await _bounded([_login(port, s) for s in senders], CONCURRENCY)
    for c in clients:
        c.startCounting()          # swallow whatever comes back (bounces)
    await sync.ready()
    started = now()
    await asyncio.gather(*(_sendMessages(c, args["recipients"], args["messages"], s)
                           for c, s in zip(clients, senders)))
    sent = now()
    await sync.finished()
    for c in clients:
        await c.close()
    return {"started": started, "sent": sent}


async def _drain(port, args, index, procs, sync):
    client = await _login(port, args["user"])
    client.startCounting(args["expect"])
    await sync.ready()
    started = now()
    client.send("<presence/>")
    last = await client.reached(PHASE_TIMEOUT)
    await client.close()
    return {"seconds": last - started, "count": client.counted}


async def _loginLoop(port, args, index, procs, sync):
    users = shard(args["users"], index, procs)
    duration = args["seconds"]
    await sync.ready()
    started = now()
    deadline = started + duration
    done = [0]
    errors = []

    async def worker(user, n):
        k = 0
        while now() < deadline:
            k += 1
            try:
                client = await _login(port, user, "r%d-%d" % (n, k), presence=True)
                await client.close()
                done[0] += 1
            except Exception as e:     # counted, not fatal: a server may refuse under load
                errors.append(repr(e))
                await asyncio.sleep(0.05)
    clientCPU = time.process_time()
    await asyncio.gather(*(worker(u, n) for n, u in enumerate(users)))
    return {"logins": done[0], "seconds": now() - started, "errors": len(errors),
            "firstError": errors[0] if errors else None,
            # The load generator's own CPU: a login costs it about as much as
            # the server, and the two share the machine's cores.
            "client_cpu": time.process_time() - clientCPU}


async def _idle(port, args, index, procs, sync):
    sessions = shard(args["sessions"], index, procs)
    clients = await _bounded([_login(port, u, r, presence=True) for u, r in sessions],
                             CONCURRENCY)
    for c in clients:
        c.startCounting()
    await sync.ready()
    await sync.finished()
    await _bounded([c.close() for c in clients], 500)
    return {"sessions": len(clients)}


async def _route(port, args, index, procs, sync):
    pairs = shard(args["pairs"], index, procs)
    messages = args["messages"]
    receivers = await _bounded([_login(port, b, presence=True) for _a, b in pairs], CONCURRENCY)
    senders = await _bounded([_login(port, a, presence=True) for a, _b in pairs], CONCURRENCY)
    for r in receivers:
        r.startCounting(messages)
    for s in senders:
        s.startCounting()
    await sync.ready()
    started = now()
    clientCPU = time.process_time()
    await asyncio.gather(*(_sendMessages(s, [b], messages, a)
                           for s, (a, b) in zip(senders, pairs)))
    lasts = await asyncio.gather(*(r.reached(PHASE_TIMEOUT) for r in receivers))
    clientCPU = time.process_time() - clientCPU
    received = sum(r.counted for r in receivers)
    for c in receivers + senders:
        await c.close()
    return {"started": started, "last": max(lasts), "received": received,
            "client_cpu": clientCPU}


WORKERS = {"register": _register, "store": _store, "drain": _drain,
           "login": _loginLoop, "idle": _idle, "route": _route}


# Process plumbing ---------------------------------------------------------------------

class _Sync:
    """The child's side of the two barriers: all ready, measurement over."""

    def __init__(self, start, finish, hold=PHASE_TIMEOUT):
        self.start = start
        self.finish = finish
        self.hold = hold
        self.wasReady = self.wasFinished = False

    async def ready(self):
        self.wasReady = True
        await asyncio.get_running_loop().run_in_executor(
            None, self.start.wait, PHASE_TIMEOUT)

    async def finished(self):
        self.wasFinished = True
        await asyncio.get_running_loop().run_in_executor(
            None, self.finish.wait, self.hold)


def _child(kind, port, args, index, procs, start, finish, results):
    try:
        # How long a worker may wait for the measurement to end: the growth
        # scenario holds its idle sessions through several store and drain runs.
        sync = _Sync(start, finish, args.get("hold", PHASE_TIMEOUT))
        result = asyncio.run(WORKERS[kind](port, args, index, procs, sync))
        if not sync.wasReady:
            start.wait(PHASE_TIMEOUT)
        if not sync.wasFinished:
            finish.wait(sync.hold)
        results.put((index, result, None))
    except BaseException:
        results.put((index, None, traceback.format_exc()))
        start.abort()
        finish.abort()


class Run:
    """
    Child processes running one worker kind. ``ready()`` blocks until all of
    them are set up and releases them together; ``finish()`` lets workers
    that wait for the measurement to end (store, idle) go on; ``results()``
    collects what each returned.
    """

    def __init__(self, kind, port, args, procs):
        ctx = multiprocessing.get_context("fork")
        self.procs = procs
        self.start = ctx.Barrier(procs + 1)
        self.finishBarrier = ctx.Barrier(procs + 1)
        self.queue = ctx.Queue()
        self.children = [ctx.Process(target=_child, daemon=True,
                                     args=(kind, port, args, i, procs, self.start,
                                           self.finishBarrier, self.queue))
                         for i in range(procs)]
        for c in self.children:
            c.start()
        self._results = None

    def ready(self):
        try:
            self.start.wait(PHASE_TIMEOUT)
        except Exception:
            self.results()
            raise
        return now()

    def finish(self):
        try:
            self.finishBarrier.wait(PHASE_TIMEOUT)
        except Exception:
            pass

    def results(self):
        if self._results is None:
            out = {}
            errors = []
            for _ in self.children:
                index, result, error = self.queue.get(timeout=PHASE_TIMEOUT)
                if error:
                    errors.append(error)
                out[index] = result
            for c in self.children:
                c.join(30)
                if c.is_alive():
                    c.kill()
            if errors:
                raise RuntimeError("a load process failed:\n" + errors[0])
            self._results = [out[i] for i in sorted(out)]
        return self._results


def runOnly(kind, port, args, procs):
    """A worker kind that needs no coordination: just run it and return results."""
    run = Run(kind, port, args, procs)
    run.ready()
    run.finish()
    return run.results()


# The scenarios, as the parent sees them -------------------------------------------------------

def waitStored(server, recipients, target, timeout, interval=0.05, resolution=0.002):
    """
    Poll the server's storage until ``recipients`` hold ``target`` rows; the
    time they did. Every ``interval`` at first, and as the count nears the
    target, at the pace it grows, down to every ``resolution``: a store of
    5,000 messages lasts about half a second, and polled every 50 ms its
    rate could only be told to within a tenth.
    """
    started = now()
    deadline = started + timeout
    first = None
    while True:
        count = server.storedCount(recipients)
        at = now()
        if count >= target:
            return at, count
        if at > deadline:
            raise RuntimeError("%s stored %d of %d messages in %d s"
                               % (server.name, count, target, timeout))
        if first is None:
            first = count
        pause = interval
        if count > first:
            remaining = (target - count) * (at - started) / (count - first)
            pause = max(resolution, min(interval, remaining / 2))
        time.sleep(pause)


def scenarioStore(server, senders, recipients, messages, procs):
    baseline = server.storedCount(recipients)
    total = len(senders) * messages
    run = Run("store", server.port, dict(senders=senders, recipients=recipients,
                                         messages=messages), procs)
    # From the release on: the senders' logins are not the store's.
    started = run.ready()
    cpu, databaseCpu, reactorCpu = server.cpu(), server.databaseCpu(), server.reactorCpu()
    finished, count = waitStored(server, recipients, baseline + total, PHASE_TIMEOUT)
    cpu = server.cpu() - cpu
    if databaseCpu is not None:
        databaseCpu = server.databaseCpu() - databaseCpu
    if reactorCpu is not None:
        reactorCpu = server.reactorCpu() - reactorCpu
    run.finish()
    sentAt = max(r["sent"] for r in run.results())
    return {"stored_per_s": total / (finished - started), "seconds": finished - started,
            "send_seconds": sentAt - started, "server_cpu": cpu / (finished - started),
            "database_cpu_per_message": None if databaseCpu is None else databaseCpu / total,
            "reactor_cpu_per_message": None if reactorCpu is None else reactorCpu / total}


def fillBacklog(server, recipient, count, senders, procs):
    baseline = server.storedCount([recipient])
    per = count // len(senders)
    run = Run("store", server.port, dict(senders=senders, recipients=[recipient],
                                         messages=per), procs)
    run.ready()
    waitStored(server, [recipient], baseline + per * len(senders), PHASE_TIMEOUT, 0.2)
    run.finish()
    run.results()
    return per * len(senders)


def scenarioDrain(server, recipient, backlog):
    run = Run("drain", server.port, dict(user=recipient, expect=backlog), 1)
    run.ready()
    # From the presence to the client's close: the drain, its acknowledged
    # deletes, and the one logout.
    cpu, databaseCpu = server.cpu(), server.databaseCpu()
    run.finish()
    cpu = server.cpu() - cpu
    if databaseCpu is not None:
        databaseCpu = server.databaseCpu() - databaseCpu
    result = run.results()[0]
    return {"seconds": result["seconds"], "count": result["count"], "server_cpu": cpu,
            "database_cpu": databaseCpu}


def scenarioLogin(server, users, seconds, procs):
    cpu, reactorCpu = server.cpu(), server.reactorCpu()
    results = runOnly("login", server.port, dict(users=users, seconds=seconds), procs)
    cpu = server.cpu() - cpu
    if reactorCpu is not None:
        reactorCpu = server.reactorCpu() - reactorCpu
    logins = sum(r["logins"] for r in results)
    elapsed = max(r["seconds"] for r in results)
    errors = sum(r["errors"] for r in results)
    first = next((r["firstError"] for r in results if r["firstError"]), None)
    clientCPU = sum(r["client_cpu"] for r in results)
    return {"logins_per_s": logins / elapsed, "logins": logins, "errors": errors,
            "firstError": first, "server_cpu": cpu / elapsed,
            "cpu_per_login": cpu / logins if logins else None,
            # xmppd's event loop thread alone: what bounds its login rate
            # on one core, beside the TLS handshake workers.
            "reactor_cpu_per_login": reactorCpu / logins if logins and reactorCpu else None,
            "client_cpu": clientCPU / elapsed,
            "client_cpu_per_login": clientCPU / logins if logins else None}


def scenarioIdle(server, sessions, procs, settle=3.0):
    before = server.rss()
    run = Run("idle", server.port, dict(sessions=sessions), procs)
    run.ready()
    time.sleep(settle)
    after = server.rss()
    run.finish()
    run.results()
    return {"kib_per_session": (after - before) / len(sessions) / 1024,
            "rss_before_mib": before / 2**20, "rss_after_mib": after / 2**20}


class IdleSessions:
    """
    ``sessions`` authenticated sessions held open (initial presence sent,
    pings answered) from the time ``open`` returns until ``close``: the
    growth scenario runs its store and drain while they are connected.
    """

    def __init__(self, server, sessions, procs):
        self.server = server
        self.sessions = sessions
        self.run = Run("idle", server.port, dict(sessions=sessions, hold=4 * PHASE_TIMEOUT),
                       procs)

    def open(self):
        self.run.ready()

    def close(self):
        self.run.finish()
        self.run.results()


def scenarioRoute(server, pairs, messages, procs):
    results = Run("route", server.port, dict(pairs=pairs, messages=messages), procs)
    results.ready()
    cpu = server.cpu()
    results.finish()
    # Includes the clients' logouts after the last receipt, a small share.
    cpu = server.cpu() - cpu
    out = results.results()
    received = sum(r["received"] for r in out)
    elapsed = max(r["last"] for r in out) - min(r["started"] for r in out)
    clientCPU = sum(r["client_cpu"] for r in out)
    return {"messages_per_s": received / elapsed, "received": received,
            "server_cpu": cpu / elapsed, "cpu_per_message": cpu / received,
            "client_cpu": clientCPU / elapsed, "client_cpu_per_message": clientCPU / received}
