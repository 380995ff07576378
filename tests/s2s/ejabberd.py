"""
Debian's ejabberd as the remote server of a federation test: its own
config, spool and ports (all 127.0.0.1), a certificate for its domain from
the test CA, and ``inetrc`` so that it finds our loopback domain without
the system's DNS: its only name server is the test's (``dns.py``).
"""

import os
import pwd
import shutil
import subprocess
import tempfile
import time

EJABBERDCTL = "/usr/sbin/ejabberdctl"
START_TIMEOUT = 60

CONFIG = """\
loglevel: info
log_rotate_count: 0
hosts:
  - "{domain}"
certfiles:
  - "{run}/{domain}.pem"
ca_file: "{run}/ca.pem"
s2s_use_starttls: required
outgoing_s2s_timeout: 10
outgoing_s2s_families:
  - ipv4
s2s_dns_timeout: 1
s2s_dns_retries: 1
listen:
  -
    port: {c2sPort}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls_required: true
    access: c2s
    shaper: none
  -
    port: {s2sPort}
    ip: "127.0.0.1"
    module: ejabberd_s2s_in
    shaper: none
auth_method: internal
auth_password_format: scram
auth_scram_hash: sha256
default_db: mnesia
registration_timeout: infinity
acl:
  local:
    user_regexp: ""
access_rules:
  c2s:
    allow: all
  register:
    allow: all
s2s_access: all
shaper_rules:
  max_user_offline_messages: 1000
modules:
  mod_disco: {{}}
  mod_roster: {{}}
  mod_ping: {{}}
  mod_register:
    access: register
  mod_offline:
    access_max_user_messages: max_user_offline_messages
  mod_s2s_dialback: {{}}
"""

CTL_CONFIG = """\
ERLANG_NODE={node}
INET_DIST_INTERFACE=127.0.0.1
ERL_EPMD_ADDRESS=127.0.0.1
ERL_DIST_PORT={distPort}
ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0 -setcookie xmppds2stest"
EJABBERD_PID_PATH={run}/ejabberd.pid
CONTRIB_MODULES_CONF_DIR={run}/modules.d
"""

# The SRV lookup goes to the test's own name server (tests/s2s/dns.py)
# and nowhere else; the address of its answer, "localhost", comes from
# the system's hosts file.
INETRC = """\
{{resolv_conf,""}}.
{{hosts_file,""}}.
{{lookup,["file","dns"]}}.
{{host,{{127,0,0,1}}, ["localhost"]}}.
{{nameserver,{{127,0,0,1}},{dnsPort}}}.
"""


def available():
    return os.path.exists(EJABBERDCTL) and shutil.which("erl") is not None


class Ejabberd:
    def __init__(self, domain, certificate, caFile, ports, dnsPort):
        self.domain = domain
        self.c2sPort, self.s2sPort, distPort = ports
        # Not under pytest's tmp_path: as root, ejabberdctl runs the node as
        # the 'ejabberd' user, who cannot enter root's private directories.
        self.run = tempfile.mkdtemp(prefix="xmppd-ejabberd-")
        os.chmod(self.run, 0o755)
        for sub in ("logs", "spool", "modules.d"):
            os.makedirs(os.path.join(self.run, sub))
        with open(os.path.join(self.run, domain + ".pem"), "wb") as f:
            f.write(open(certificate[0], "rb").read() + open(certificate[1], "rb").read())
        shutil.copy(caFile, os.path.join(self.run, "ca.pem"))
        values = dict(domain=domain, run=self.run, c2sPort=self.c2sPort, s2sPort=self.s2sPort,
                      distPort=distPort, dnsPort=dnsPort,
                      node="xmppdtest%d@localhost" % os.getpid())
        for name, template in (("ejabberd.yml", CONFIG), ("ejabberdctl.cfg", CTL_CONFIG),
                               ("inetrc", INETRC)):
            with open(os.path.join(self.run, name), "w") as f:
                f.write(template.format(**values))
        if os.getuid() == 0:
            user = pwd.getpwnam("ejabberd")
            for root, dirs, files in os.walk(self.run):
                for name in [root] + [os.path.join(root, n) for n in dirs + files]:
                    os.chown(name, user.pw_uid, user.pw_gid)
        self.process = None

    def command(self, *args):
        return [EJABBERDCTL, "--config-dir", self.run, "--logs", os.path.join(self.run, "logs"),
                "--spool", os.path.join(self.run, "spool")] + list(args)

    def start(self):
        self.console = open(os.path.join(self.run, "console.log"), "wb")
        self.process = subprocess.Popen(self.command("foreground"), stdout=self.console,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)
        wanted = "Start accepting TCP connections at 127.0.0.1:%d" % self.s2sPort
        deadline = time.monotonic() + START_TIMEOUT
        # ejabberd says in its log when its listeners accept: read it, as
        # the other tests read twistd's.
        while wanted not in self.logText():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("ejabberd did not start:\n" + self.logText()[-3000:])
            time.sleep(0.1)
        return self

    def logText(self):
        path = os.path.join(self.run, "logs", "ejabberd.log")
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            subprocess.run(self.command("stop"), capture_output=True, timeout=30)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 15)
                self.process.wait(10)
        self.console.close()
        shutil.rmtree(self.run, ignore_errors=True)
