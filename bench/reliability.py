"""
Issue 10's reliability scenarios against xmppd, Prosody and ejabberd, with
the very client code of tests/reliability: for each scenario, how many
messages were sent, delivered, duplicated and lost.

    python3 -m bench.reliability --server xmppd-sqlite
    python3 -m bench.reliability --server prosody --json out.json
    python3 -m bench.reliability --server ejabberd --scenarios b,d

xmppd gets a fresh process and database per scenario (SQLite, or a
database of a private MariaDB), as in the tests. The peers come from the
peers scripts (``--peers``, default ``bench/peers``), started twice: as configured there for the scenarios without
stream management, and from a copy whose config adds XEP-0198 (Prosody's
mod_smacks, ejabberd's mod_stream_mgmt) with a resumption timeout of
``PEER_RESUME_TIMEOUT`` seconds for the others. Accounts are created by
in-band registration, a fresh set per scenario. Scenario j (SIGKILL,
restart on the same data) runs on xmppd only: the peer scripts wipe their
data on every start. Loopback only, every wait bounded.
"""

import argparse
import asyncio
import itertools
import json
import os
import shutil
import sqlite3
import sys
import time
import traceback
import xml.etree.ElementTree as ET

from bench.labpeers import Ejabberd, Prosody
from bench.servers import REPO, MariaDB, newWorkDir
from tests.rawclient import NS_CLIENT, RawClient, q
from tests.reliability import scenarios, sm_scenarios
from tests.reliability.procserver import XmppdProcess

PEER_RESUME_TIMEOUT = 2
XMPPD_RESUME_TIMEOUT = 2
SCENARIO_TIMEOUT = 240
IDLE = {"c2s": {"idle_timeout": "1s", "ping_timeout": "1s"}}
RESUME = {"modules.stream_management": {"resume_timeout": "%ds" % XMPPD_RESUME_TIMEOUT}}
REGISTER = {"modules.register": {"enabled": True, "min_seconds_between_registrations": 0}}

# key, label, needs SM, xmppd only, extra xmppd config, the coroutine
SCENARIOS = [
    ("1", "issue scenario 1: logout as clients do, then 1 more (10 tries)", False, False, {},
     lambda t: scenarios.logoutAfterOfflineDelivery(t, deterministic=False)),
    ("a", "logout after offline delivery, 1 more in the closing window (10x)", False, False, {},
     lambda t: scenarios.logoutAfterOfflineDelivery(t, deterministic=True)),
    ("b", "</stream:stream> then stop reading, 10 sent after", False, False, {},
     scenarios.closeThenStopReading),
    ("c", "<presence/></stream:stream> in one write, 5 stored (10x)", False, False, {},
     scenarios.presenceAndCloseInOneWrite),
    ("d", "client frozen past idle_timeout, 10 before + 10 after", False, False, IDLE,
     lambda t: scenarios.frozenPastIdleTimeout(t, timeout=5)),
    ("e", "live message right after initial presence (10x)", False, False, {},
     scenarios.liveMessageRightAfterLogin),
    ("2", "issue scenario 2: 1,500 stored, connection lost at 200 (no stream close)",
     False, False, {}, lambda t: scenarios.connectionDiesMidDrain(t, reset=False)),
    ("f", "1,500 stored, TCP RST at 200", False, False, {},
     lambda t: scenarios.connectionDiesMidDrain(t, reset=True)),
    ("f-sm", "1,500 stored, TCP RST at 200, with SM", True, False, RESUME,
     sm_scenarios.resetMidDrainWithSM),
    ("g", "SM resumption after a reset (300 stored + 50 live)", True, False, RESUME,
     sm_scenarios.resumeAfterReset),
    ("h", "SM session left to time out, 20 during + 10 after", True, False, RESUME,
     lambda t: sm_scenarios.resumptionTimesOut(t, timeout=PEER_RESUME_TIMEOUT + 5)),
    ("i", "4 senders x 500, recipient resets 10 times with SM", True, False, RESUME,
     sm_scenarios.resetsUnderLoad),
    ("j", "SIGKILL during a store burst, senders with SM", True, True, {},
     sm_scenarios.serverKilledDuringStoreBurst),
    ("j-ping", "SIGKILL during a store burst, senders acked by ping (no SM)", False, True, {},
     lambda t: sm_scenarios.serverKilledDuringStoreBurst(t, ack="ping")),
]

_runs = itertools.count(1)


async def register(port, domain, username, password):
    """XEP-0077 in-band registration over TLS; an existing account is fine."""
    client = await RawClient.connect(port)
    await client.open(domain)
    await client.starttls()
    client.sendRaw("<iq type='set' id='reg1'><query xmlns='jabber:iq:register'>"
                   "<username>%s</username><password>%s</password></query></iq>"
                   % (username, password))
    reply = await client.expect()
    client.abort()
    if reply.get("type") != "result" and b"conflict" not in ET.tostring(reply):
        raise RuntimeError("registration of %s failed: %s" % (username, ET.tostring(reply)))


class Target:
    """What the scenarios need of a server: accounts, and its offline queues."""

    domain = "localhost"
    batch = None

    def __init__(self):
        self.prefix = "r0"

    def newScenario(self):
        self.prefix = "r%d" % next(_runs)

    async def account(self, name):
        username, password = self.prefix + name, "secret-" + name
        await register(self.port, self.domain, username, password)
        return username, password

    async def kill(self):
        raise AssertionError("%s cannot be restarted on its data by this runner" % self.name)

    restart = kill


class XmppdTarget(Target):
    batch = 100

    def __init__(self, workDir, backend):
        Target.__init__(self)
        self.workDir = workDir
        self.backend = backend
        self.name = "xmppd-" + backend
        self.mariadb = None
        self.process = None
        self.databases = itertools.count(1)

    def prepare(self):
        if self.backend == "mysql":
            self.mariadb = MariaDB(self.workDir)
            self.mariadb.start()

    async def startFor(self, config):
        """A fresh process on a fresh database for one scenario."""
        await self.stop()
        number = next(self.databases)
        directory = os.path.join(self.workDir, "xmppd-%d" % number)
        if self.backend == "sqlite":
            os.makedirs(directory, exist_ok=True)
            self.options = dict(path=os.path.join(directory, "xmppd.sqlite"))
        else:
            name = "xmppd_%d" % number
            with self._root() as conn, conn.cursor() as cur:
                cur.execute("CREATE DATABASE %s CHARACTER SET utf8mb4 COLLATE utf8mb4_bin" % name)
                for host in ("127.0.0.1", "localhost"):
                    cur.execute("GRANT ALL PRIVILEGES ON %s.* TO 'xmppd'@'%s'" % (name, host))
            self.options = dict(host="127.0.0.1", port=self.mariadb.port, user="xmppd",
                                password="bench", database=name)
        tables = dict(REGISTER)
        tables.update({k: v for k, v in config.items() if not k.startswith("modules.stream")})
        optional = {k: v for k, v in config.items() if k.startswith("modules.stream")}
        self.process = XmppdProcess(directory, self.backend, self.options, tables, optional)
        await self.process.start()

    @property
    def port(self):
        return self.process.port

    def _root(self):
        import pymysql
        return pymysql.connect(unix_socket=self.mariadb.socket, user="root", password="",
                               autocommit=True)

    def _query(self, sql, args):
        if self.backend == "sqlite":
            conn = sqlite3.connect("file:%s?mode=ro" % self.options["path"], uri=True, timeout=30)
            try:
                return conn.execute(sql, args).fetchall()
            finally:
                conn.close()
        import pymysql
        conn = pymysql.connect(unix_socket=self.mariadb.socket, user="root", password="",
                               database=self.options["database"], autocommit=True)
        try:
            with conn.cursor() as cur:
                cur.execute(sql.replace("?", "%s"), args)
                return cur.fetchall()
        finally:
            conn.close()

    async def storedCount(self, user):
        rows = self._query("SELECT COUNT(*) FROM offline_messages WHERE recipient = ?",
                           ("%s@%s" % (user, self.domain),))
        return rows[0][0]

    async def storedBodies(self, user):
        rows = self._query("SELECT xml FROM offline_messages WHERE recipient = ? ORDER BY id",
                           ("%s@%s" % (user, self.domain),))
        return [ET.fromstring(row[0]).findtext(q(NS_CLIENT, "body")) for row in rows]

    async def kill(self):
        await self.process.kill()

    async def restart(self):
        await self.process.start()

    async def stop(self):
        if self.process is not None:
            await self.process.stop()
            self.process = None

    def close(self):
        if self.mariadb is not None:
            self.mariadb.stop()


def smPeersDir(peersDir, workDir):
    """A copy of the peers scripts whose configs enable XEP-0198 with a short resumption."""
    copy = os.path.join(workDir, "peers-sm")
    shutil.copytree(peersDir, copy, dirs_exist_ok=True)
    prosody = os.path.join(copy, "prosody", "prosody.cfg.lua.in")
    with open(prosody) as f:
        text = f.read()
    text = text.replace('modules_enabled = {', 'modules_enabled = {\n\t"smacks";', 1)
    text += "\nsmacks_hibernation_time = %d\n" % PEER_RESUME_TIMEOUT
    with open(prosody, "w") as f:
        f.write(text)
    ejabberd = os.path.join(copy, "ejabberd", "ejabberd.yml.in")
    with open(ejabberd) as f:
        text = f.read()
    text = text.replace("\nmodules:\n", "\nmodules:\n  mod_stream_mgmt:\n    resume_timeout: %d\n"
                        % PEER_RESUME_TIMEOUT, 1)
    with open(ejabberd, "w") as f:
        f.write(text)
    return copy


class PeerTarget(Target):
    def __init__(self, peer):
        Target.__init__(self)
        self.peer = peer
        self.name = peer.name

    @property
    def port(self):
        return self.peer.port

    async def storedCount(self, user):
        if isinstance(self.peer, Prosody):
            path = os.path.join(self.peer.runBase, "prosody", "data", self.domain, "offline",
                                "%s.list" % user)
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                return 0
            return data.count(b"\nitem(") + (1 if data.startswith(b"item(") else 0)
        path = os.path.join(self.peer.runBase, "ejabberd", "spool", "ejabberd.db")
        try:
            conn = sqlite3.connect("file:%s?immutable=1" % path, uri=True)
            try:
                return conn.execute("SELECT COUNT(*) FROM spool WHERE username = ?",
                                    (user,)).fetchone()[0]
            finally:
                conn.close()
        except sqlite3.DatabaseError:
            return 0


async def runOne(target, key, function):
    target.newScenario()
    started = time.monotonic()
    try:
        figures = await asyncio.wait_for(function(target), SCENARIO_TIMEOUT)
    except AssertionError as error:
        figures = {"error": str(error)}
    except Exception as error:
        traceback.print_exc()
        figures = {"error": "%s: %s" % (type(error).__name__, error)}
    figures["seconds"] = round(time.monotonic() - started, 1)
    print("%-7s %-8s %s" % (target.name, key, json.dumps(figures)), flush=True)
    return figures


async def runXmppd(backend, selected, workDir):
    target = XmppdTarget(workDir, backend)
    target.prepare()
    results = {}
    try:
        for key, label, needsSM, xmppdOnly, config, function in selected:
            await target.startFor(config)
            results[key] = await runOne(target, key, function)
    finally:
        await target.stop()
        target.close()
    return results


async def runPeer(name, selected, workDir, peersDir):
    results = {}
    for withSM in (False, True):
        batch = [s for s in selected if s[2] == withSM and not s[3]]
        if not batch:
            continue
        directory = smPeersDir(peersDir, workDir) if withSM else peersDir
        peer = (Prosody if name == "prosody" else Ejabberd)(
            os.path.join(workDir, "sm" if withSM else "plain"), directory)
        os.makedirs(peer.runBase, exist_ok=True)
        peer.start()
        try:
            target = PeerTarget(peer)
            for key, label, needsSM, xmppdOnly, config, function in batch:
                results[key] = await runOne(target, key, function)
        finally:
            peer.stop()
    for key, label, needsSM, xmppdOnly, config, function in selected:
        if xmppdOnly:
            results[key] = {"error": "not run: the peer scripts wipe the data on restart"}
    return results


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--server", required=True,
                   choices=["xmppd-sqlite", "xmppd-mysql", "prosody", "ejabberd"])
    p.add_argument("--scenarios", default=",".join(s[0] for s in SCENARIOS))
    p.add_argument("--peers", default=os.path.join(REPO, "bench", "peers"))
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args(argv)
    wanted = args.scenarios.split(",")
    selected = [s for s in SCENARIOS if s[0] in wanted]
    workDir = newWorkDir()
    os.chmod(workDir, 0o755)
    try:
        if args.server.startswith("xmppd-"):
            results = asyncio.run(runXmppd(args.server[6:], selected, workDir))
        else:
            results = asyncio.run(runPeer(args.server, selected, workDir, args.peers))
    finally:
        shutil.rmtree(workDir, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"server": args.server, "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
