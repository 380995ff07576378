"""
A hostile run: xmppd with its default limits, in its own process, under
five attacks at once, while a witness client pings it.

- pre-auth memory: 20 connections each sending one endless stanza before
  authenticating (the server closes them at 10 KiB; they come back);
- half-open TLS: connections that say <starttls/> and never send a
  ClientHello;
- a self-flooding non-reader: an account flooding itself with messages
  through a tiny receive buffer, reading nothing;
- unique JIDs: accounts sending to 100,000 distinct addresses (each gets an
  error reply, which they read);
- a login brute force: PLAIN guesses at the witness's account, on new
  connections as soon as the old ones close.

Every attacker has its own loopback address (127.0.0.N) and the witness
127.0.0.1, as they would be on a network. Printed every second: the
server's RSS and the witness's ping times; at the end, the figures, and
exit status 1 if RSS reached 300 MB or the median ping 100 ms.

    python -m bench.hostile [--seconds 60]
"""

import argparse
import asyncio
import base64
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from bench.client import NS_SASL, NS_STREAMS, NS_TLS, Client, XMPPError
from bench.servers import REPO, rssBytes, waitPort

MB = 1 << 20
RSS_LIMIT = 300 * MB
PING_LIMIT = 0.100
UNIQUE_JIDS = 100000
SPRAYERS = 4
HEADER = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='%s'"
          " to='localhost' version='1.0'>" % NS_STREAMS)
USERS = ["witness", "flooder"] + ["spray%d" % n for n in range(SPRAYERS)]


class Counts(dict):
    def add(self, key, n=1):
        self[key] = self.get(key, 0) + n


def freePort():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def startServer(workDir):
    port = freePort()
    config = os.path.join(workDir, "hostile.toml")
    with open(config, "w") as f:
        # Defaults everywhere but where it listens.
        f.write('[server]\ndata_dir = "%s"\n\n[c2s]\ninterface = "127.0.0.1"\nport = %d\n'
                % (os.path.join(workDir, "data"), port))
    env = dict(os.environ, PYTHONPATH=REPO)
    passwordFile = os.path.join(workDir, "password")
    for user in USERS:
        with open(passwordFile, "w") as f:
            f.write("secret-%s\n" % user)
        subprocess.run([sys.executable, "-m", "xmppd.ctl", "-c", config, "adduser",
                        "%s@localhost" % user, "--password-file", passwordFile],
                       check=True, env=env, cwd=workDir, capture_output=True)
    process = subprocess.Popen(
        [sys.executable, "-c", "from twisted.scripts.twistd import run; run()", "-n",
         "--pidfile=", "--logfile", os.path.join(workDir, "xmppd.log"), "xmppd",
         "--config", config],
        cwd=workDir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    waitPort(port)
    return process, port


async def connect(port, source, rcvbuf=None):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.bind((source, 0))
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return await Client.connect(port, sock=sock)


async def drainUntilClosed(client, timeout=60):
    try:
        while await asyncio.wait_for(client.reader.read(65536), timeout):
            pass
    except (ConnectionError, asyncio.TimeoutError, OSError):
        pass
    client.writer.transport.abort()


async def forever(attack, counts, name, stop):
    """
    Run ``attack`` again each time it ends, until ``stop`` is set; errors
    are what attacks get. The flag, not only cancellation, ends the loop:
    asyncio.wait_for can swallow a cancellation that arrives as its inner
    future completes, and the attack would then run for ever.
    """
    while not stop.is_set():
        try:
            await attack()
        except (XMPPError, ConnectionError, OSError, asyncio.TimeoutError) as e:
            counts.add(name + " errors")
            if isinstance(e, OSError) and not isinstance(e, ConnectionError):
                await asyncio.sleep(0.1)


async def preauthMemory(port, source, counts):
    client = await connect(port, source)
    client.send(HEADER + "<message><body>")
    chunk = b"x" * 65536
    try:
        while True:
            client.send(chunk)
            await asyncio.wait_for(client.writer.drain(), 10)
            counts.add("pre-auth bytes sent", len(chunk))
    except (ConnectionError, asyncio.TimeoutError, OSError):
        counts.add("pre-auth connections closed by the server")
    client.writer.transport.abort()


async def halfOpenTLS(port, source, counts):
    client = await connect(port, source)
    client.send(HEADER + "<starttls xmlns='%s'/>" % NS_TLS)
    counts.add("half-open TLS connections")
    await drainUntilClosed(client, timeout=120)


async def selfFlood(port, source, counts):
    client = await connect(port, source, rcvbuf=4096)
    await client.login("flooder", "secret-flooder", "flood", roster=False)
    client.send("<presence/>")
    stanza = ("<message to='%s' type='chat'><body>%s</body></message>"
              % (client.jid, "f" * 1000)).encode() * 16
    while True:
        client.send(stanza)
        try:
            await asyncio.wait_for(client.writer.drain(), 5)
        except asyncio.TimeoutError:
            counts.add("flood writes stalled")
            continue
        counts.add("flood bytes sent", len(stanza))


async def sprayJIDs(port, source, index, counts):
    client = await connect(port, source)
    await client.login("spray%d" % index, "secret-spray%d" % index, "spray", roster=False)
    reading = asyncio.ensure_future(drainUntilClosed(client, timeout=3600))
    n = index
    while counts.get("unique JIDs sent", 0) < UNIQUE_JIDS:
        batch = "".join("<message to='u%d@d%d.example' type='chat'/>" % (i, i)
                        for i in range(n, n + 100 * SPRAYERS, SPRAYERS))
        n += 100 * SPRAYERS
        client.send(batch)
        await client.writer.drain()
        counts.add("unique JIDs sent", 100)
    counts["unique JIDs done at"] = time.monotonic()
    await reading


async def bruteForce(port, source, counts):
    client = await connect(port, source)
    await client.open()
    await client.starttls()
    for guess in range(5):
        payload = base64.b64encode(b"\0witness\0guess-%d" % guess).decode()
        client.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (NS_SASL, payload))
        answer = await client.expect()
        counts.add("login attempts answered")
        if not answer.tag.endswith("}failure"):
            raise SystemExit("a guess succeeded")
    await drainUntilClosed(client, timeout=30)


async def witness(port, pings, deadline):
    client = await connect(port, "127.0.0.1")
    await client.login("witness", "secret-witness", "witness", roster=False)
    n = 0
    while time.monotonic() < deadline:
        started = time.monotonic()
        await client.ping("w%d" % n)
        pings.append(time.monotonic() - started)
        n += 1
        await asyncio.sleep(0.2)
    await client.close()


ATTACKS = ("preauth", "halfopen", "flood", "jids", "bruteforce")


async def run(seconds, skip=()):
    workDir = tempfile.mkdtemp(prefix="xmppd-hostile-")
    process, port = startServer(workDir)
    counts, pings, samples = Counts(), [], []
    started = time.monotonic()
    deadline = started + seconds
    attacks = []
    stop = asyncio.Event()
    for n in range(20 if "preauth" not in skip else 0):
        attacks.append(forever(lambda: preauthMemory(port, "127.0.0.10", counts),
                               counts, "pre-auth", stop))
    for n in range(50 if "halfopen" not in skip else 0):
        attacks.append(forever(lambda: halfOpenTLS(port, "127.0.0.11", counts),
                               counts, "half-open", stop))
    if "flood" not in skip:
        attacks.append(forever(lambda: selfFlood(port, "127.0.0.12", counts), counts, "flood", stop))
    for n in range(SPRAYERS if "jids" not in skip else 0):
        attacks.append(sprayJIDs(port, "127.0.0.%d" % (20 + n), n, counts))
    for n in range(10 if "bruteforce" not in skip else 0):
        attacks.append(forever(lambda: bruteForce(port, "127.0.0.13", counts),
                               counts, "brute force", stop))
    tasks = [asyncio.ensure_future(a) for a in attacks]
    watching = asyncio.ensure_future(witness(port, pings, deadline))
    try:
        while time.monotonic() < deadline and not watching.done():
            await asyncio.sleep(1)
            rss = rssBytes(process.pid)
            samples.append(rss)
            recent = pings[-5:] or [float("nan")]
            print("t=%3ds  server RSS %4d MB  witness ping median %6.1f ms (last %d)"
                  % (time.monotonic() - started, rss // MB,
                     statistics.median(recent) * 1000, len(recent)), flush=True)
        await watching
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=30)
        process.terminate()
        process.wait(30)
    median = statistics.median(pings)
    report = {
        "seconds": seconds,
        "rss_max_mb": max(samples) / MB,
        "rss_last_mb": samples[-1] / MB,
        "ping_median_ms": median * 1000,
        "ping_p95_ms": sorted(pings)[int(len(pings) * 0.95)] * 1000,
        "ping_max_ms": max(pings) * 1000,
        "pings": len(pings),
    }
    if "unique JIDs done at" in counts:
        counts["unique JIDs done at"] = "%.1f s" % (counts["unique JIDs done at"] - started)
    print()
    for key, value in list(report.items()) + sorted(counts.items()):
        print("%-45s %s" % (key, "%.1f" % value if isinstance(value, float) else value))
    ok = max(samples) < RSS_LIMIT and median < PING_LIMIT
    print("\n%s: RSS < %d MB and median ping < %d ms"
          % ("PASS" if ok else "FAIL", RSS_LIMIT // MB, PING_LIMIT * 1000))
    return report, counts, ok


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60, help="length of the run")
    parser.add_argument("--skip", action="append", choices=ATTACKS, default=[],
                        help="leave this attack out (to tell which one costs what)")
    args = parser.parse_args(argv)
    _, _, ok = asyncio.run(run(args.seconds, args.skip))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
