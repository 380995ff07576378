"""
The lab peers under test, Prosody and ejabberd, each started fresh by the
shared scripts in ``bench/peers`` (which wipe its data on every start), and
counted and prefilled straight from their storage (see ``bench.servers``).
"""

import os
import sqlite3
import subprocess

from bench.servers import (FILLER_PREFIX, FILLER_XML, Server, fillerAccount, freePort,
                           sqliteCheckpoint, waitPort)


class Peer(Server):
    script = None
    keepsDataOnRestart = False

    def __init__(self, workDir, peersDir):
        self.peersDir = peersDir
        self.runBase = os.path.join(workDir, "peers")
        os.makedirs(self.runBase, exist_ok=True)
        # The peers drop to their own users and must reach their run dir.
        for d in (workDir, self.runBase):
            os.chmod(d, 0o755)

    def env(self):
        env = dict(os.environ, PEERS_RUN_BASE=self.runBase)
        env.update(self.extraEnv())
        return env

    def startCommand(self):
        return [os.path.join(self.peersDir, "start-%s.sh" % self.script)]

    def startCwd(self):
        return None

    def start(self):
        self.port = freePort()
        self.distPort = freePort()
        out = subprocess.run(self.startCommand(), cwd=self.startCwd(),
                             env=self.env(), capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError("start-%s.sh failed: %s" % (self.script, out.stderr[-2000:]))
        self.pid = int(out.stdout.strip().split()[-1])
        waitPort(self.port)

    def stop(self):
        subprocess.run([os.path.join(self.peersDir, "stop-%s.sh" % self.script)],
                       env=self.env(), capture_output=True, timeout=120)

    def restart(self):
        """A fresh server process; the start scripts also wipe its data."""
        self.stop()
        self.start()


class Prosody(Peer):
    name = "prosody"
    script = "prosody"

    def extraEnv(self):
        return {"PROSODY_PORT": str(self.port), "PROSODY_STORAGE": "internal",
                "PROSODY_LOGLEVEL": "warn"}

    def _offlineFile(self, user):
        return os.path.join(self.runBase, "prosody", "data", _prosodyEncode(self.domain),
                            "offline", _prosodyEncode(user) + ".list")

    def storedCount(self, recipients):
        total = 0
        for user in recipients:
            try:
                with open(self._offlineFile(user), "rb") as f:
                    data = f.read()
            except OSError:
                continue
            total += data.count(b"\nitem(") + (1 if data.startswith(b"item(") else 0)
        return total

    def prefill(self, rows, accounts, template):
        """
        Archive files as mod_storage_internal writes them: ``template``'s own
        stored item (it must hold at least one) repeated under each new name.
        No account files: Prosody never opens another user's files to store
        or deliver, and the archives are what grows.
        """
        with open(self._offlineFile(template), "rb") as f:
            data = f.read()
        start = data.index(b"item(")
        end = data.index(b"\nitem(", start + 1) + 1 if b"\nitem(" in data[start + 1:] \
            else len(data)
        item = data[start:end]
        if not item.endswith(b"\n"):
            item += b"\n"
        users = [fillerAccount(k) for k in range(accounts)]
        perUser, extra = divmod(rows, accounts)
        owner = None
        if os.geteuid() == 0:
            import pwd
            owner = pwd.getpwnam("prosody")
        for k, user in enumerate(users):
            path = self._offlineFile(user)
            with open(path, "wb") as f:
                f.write(item * (perUser + (1 if k < extra else 0)))
            if owner is not None:
                os.chown(path, owner.pw_uid, owner.pw_gid)
        return users


class Ejabberd(Peer):
    name = "ejabberd"
    script = "ejabberd"

    def __init__(self, workDir, peersDir):
        Peer.__init__(self, workDir, peersDir)
        # As root, ejabberdctl switches to the 'ejabberd' user with su, and
        # su brings the open-files limit back to 1024: too few for the idle
        # scenario's 5,000 sessions. Started as that user already (setpriv
        # keeps our raised limit), it runs directly; it then needs a run
        # directory of its own that it can write.
        if os.geteuid() == 0:
            import pwd
            self.runBase = os.path.join(workDir, "peers-ejabberd")
            os.makedirs(self.runBase, exist_ok=True)
            user = pwd.getpwnam("ejabberd")
            os.chown(self.runBase, user.pw_uid, user.pw_gid)

    def startCommand(self):
        command = Peer.startCommand(self)
        if os.geteuid() == 0:
            import pwd
            home = pwd.getpwnam("ejabberd").pw_dir
            # What su would have set: the user's HOME (Erlang's cookie) and names.
            command = ["setpriv", "--reuid=ejabberd", "--regid=ejabberd", "--init-groups",
                       "--", "env", "HOME=" + home, "USER=ejabberd", "LOGNAME=ejabberd"
                       ] + command
        return command

    def startCwd(self):
        return self.runBase

    def extraEnv(self):
        # The node named after its port: a growth phase runs two side by side.
        return {"EJABBERD_PORT": str(self.port), "EJABBERD_DB": "sqlite",
                "EJABBERD_LOGLEVEL": "warning",
                "EJABBERD_DIST_PORT": str(self.distPort),
                "EJABBERD_NODE": "ejabberdlab%d@localhost" % self.port}

    @property
    def sqlitePath(self):
        return os.path.join(self.runBase, "ejabberd", "spool", "ejabberd.db")

    def settle(self):
        Server.settle(self)
        sqliteCheckpoint(self.sqlitePath)
        os.sync()

    def storedCount(self, recipients):
        try:
            conn = sqlite3.connect("file:%s?immutable=1" % self.sqlitePath, uri=True)
            try:
                return conn.execute(
                    "SELECT COUNT(*) FROM spool WHERE username IN (%s)"
                    % ", ".join(["?"] * len(recipients)), list(recipients)).fetchone()[0]
            finally:
                conn.close()
        except sqlite3.DatabaseError:
            return 0

    def prefill(self, rows, accounts, template):
        """The spool rows in one INSERT ... SELECT, and the accounts from ``template``'s."""
        users = [fillerAccount(k) for k in range(accounts)]
        conn = sqlite3.connect(self.sqlitePath, timeout=60)
        try:
            series = ("WITH RECURSIVE series(n) AS (SELECT 0 UNION ALL"
                      " SELECT n + 1 FROM series WHERE n < ?)")
            columns = [c[1] for c in conn.execute("PRAGMA table_info(users)")]
            spool = [c[1] for c in conn.execute("PRAGMA table_info(spool)")]
            xml = FILLER_XML.format(to="'||username||'@%s" % self.domain, n="'||n||'")
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                series + " INSERT INTO users (%s) SELECT %s FROM users, series"
                " WHERE users.username = ?" % (
                    ", ".join(columns),
                    ", ".join("'%s' || series.n" % FILLER_PREFIX if c == "username"
                              else "users." + c for c in columns)),
                (accounts - 1, template))
            extra = ", server_host" if "server_host" in spool else ""
            conn.execute(
                series + " INSERT INTO spool (username, xml%s) SELECT username, '%s'%s"
                " FROM (SELECT n, '%s' || (n %% ?) AS username FROM series)"
                % (extra, xml, ", '%s'" % self.domain if extra else "", FILLER_PREFIX),
                (rows - 1, accounts))
            conn.execute("COMMIT")
        finally:
            conn.close()
        return users


def _prosodyEncode(name):
    """Prosody's datamanager file names: every non-alphanumeric byte as %xx."""
    return "".join(c if c.isascii() and c.isalnum() else "%%%02x" % ord(c) for c in name)
