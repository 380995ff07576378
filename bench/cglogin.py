"""
Instructions per login of the real server, with callgrind: deterministic
to about 0.5%, where CPU time on a shared 2-core machine moves by a third.

    python3 -m bench.cglogin [--logins 60] [--clients 5] [--out FILE]

xmppd (SQLite, the benchmark's config) runs under ``valgrind
--tool=callgrind`` with instrumentation off; the bench clients register,
warm the server up with two logins each, then instrumentation is turned on
(``callgrind_control -i on``) for ``--logins`` full logins (STARTTLS,
SCRAM, bind, roster get, initial presence, ping, close) and off again.
Prints the instructions counted over the logins. ``--out`` keeps the
callgrind file for ``callgrind_annotate --inclusive=yes``. Needs valgrind
(``apt-get install valgrind``); ``XMPPD_BENCH_SOURCE`` runs another
checkout, for before/after figures.
"""

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time

from bench import driver, servers
from bench.client import Client


class CallgrindXmppd(servers.Xmppd):
    """The benchmark's xmppd, spawned under callgrind."""

    out = "/dev/null"

    def _spawn(self):
        self.valgrindLog = os.path.join(self.dir, "valgrind.out")
        cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
               "--callgrind-out-file=" + self.out,
               sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
               "-n", "--pidfile=", "--logfile", os.path.join(self.dir, "xmppd.log"),
               "xmppd", "--config", self.config]
        source = os.environ.get("XMPPD_BENCH_SOURCE") or servers.REPO
        with open(self.valgrindLog, "w") as log:
            self.process = subprocess.Popen(
                cmd, cwd=source, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True, env=dict(os.environ, PYTHONHASHSEED="0"))
        self.pid = self.process.pid
        servers.waitPort(self.port, 300)
        self._sqlite = self._mysql = None


async def _register(port, users):
    for user in users:
        client = await Client.connect(port)
        await client.register(user, driver.PASSWORD)
        await client.close()


async def _logins(port, users, perUser, tag):
    async def worker(user):
        for k in range(perUser):
            client = await driver._login(port, user, "%s-%d" % (tag, k), presence=True)
            await client.close()
    await asyncio.gather(*(worker(u) for u in users))


def _instrument(pid, on):
    subprocess.run(["callgrind_control", "-i", "on" if on else "off", str(pid)],
                   stdout=subprocess.DEVNULL, check=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--logins", type=int, default=60)
    p.add_argument("--clients", type=int, default=5)
    p.add_argument("--out", default=None, help="keep the callgrind output here")
    args = p.parse_args(argv)
    server = CallgrindXmppd(tempfile.mkdtemp(prefix="xmppd-cglogin-"), "sqlite")
    if args.out:
        server.out = os.path.abspath(args.out)
    server.start()
    try:
        driver.waitReady(server.port, 300)
        users = ["cg%d" % i for i in range(args.clients)]
        asyncio.run(_register(server.port, users))
        asyncio.run(_logins(server.port, users, 2, "warm"))
        perUser = max(1, args.logins // args.clients)
        _instrument(server.pid, True)
        asyncio.run(_logins(server.port, users, perUser, "m"))
        _instrument(server.pid, False)
    finally:
        server.stop()
    time.sleep(0.5)
    with open(server.valgrindLog) as log:
        counted = re.findall(r"Collected : (\d+)", log.read())
    logins = perUser * len(users)
    print("%.0f instructions per login (%d logins)" % (int(counted[-1]) / logins, logins))


if __name__ == "__main__":
    main()
