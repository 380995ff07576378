"""
The server's own configuration: the tables of ``etc/xmppd.toml``.

Every key below has the same name in the file and in code
(``[c2s] port`` is ``config.c2s.port``), so that grepping for a key finds
both. Values arrive parsed: durations in seconds, sizes in bytes, lists as
tuples, relative paths made absolute against the directory the server was
started in, JIDs and host names normalised (stringprep) as routing compares
them.
"""

import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Mapping, Optional

from xmppd.config.schema import (
    ConfigError, Entries, Option, Schema, Section, Table, formatValue, joinKey)
from xmppd.config.values import (
    BUILTIN_ACLS, checkAdmins, checkHostPort, checkHosts, checkIPAddress, checkNotEmpty,
    normaliseBareJID, normaliseDomain, parseAccessRule, parseAcl)


# -- the schema of the file -------------------------------------------------

SERVER = Schema(
    [
        Option("hosts", "list-of-str", ["localhost"],
               "The XMPP domains this server hosts (virtual hosts).",
               check=checkHosts),
        Option("data_dir", "str", "xmppd-data",
               "Directory for the database, generated certificate and other state.",
               check=checkNotEmpty),
        Option("admins", "list-of-str", [],
               "Bare JIDs of the server administrators (the built-in acl 'admin').",
               check=checkAdmins),
        Option("log_rotate_length", "size", "10MiB",
               "twistd's --logfile is rotated when it reaches this size.", minimum="1KiB"),
        Option("log_rotated_files", "int", 10,
               "Rotated log files kept beside the current one; older ones are deleted.",
               minimum=1),
    ],
    doc="The server as a whole.",
)

C2S = Schema(
    [
        Option("interface", "str", "0.0.0.0",
               "IP address the client listeners bind to.", check=checkIPAddress),
        Option("port", "int", 5222,
               "Client port with STARTTLS (0 = any free port).",
               minimum=0, maximum=65535),
        Option("direct_tls_port", "int", 0,
               "Client port with direct TLS, XEP-0368 (0 = off).",
               minimum=0, maximum=65535),
        Option("reuse_port", "bool", False,
               "Open the client ports with SO_REUSEPORT: several nodes on one host share"
               " them and the kernel spreads new connections over the nodes."),
        Option("require_encryption", "bool", True,
               "Refuse authentication before STARTTLS."),
        Option("stanza_size_limit", "size", "256KiB",
               "Largest stanza a client may send; a larger one closes the stream.",
               minimum="1KiB"),
        Option("preauth_stanza_size_limit", "size", "10KiB",
               "Largest stanza before authentication (at most stanza_size_limit).",
               minimum="1KiB"),
        Option("max_stanza_depth", "int", 64,
               "Deepest element nesting in a stanza; deeper closes the stream.",
               minimum=8, maximum=1000),
        Option("output_buffer_limit", "size", "2MiB",
               "Most bytes a client may leave unread; more closes its stream.",
               minimum="256KiB"),
        Option("rate_limit_bytes_per_second", "size", "64KiB",
               "Bytes per second one account may send, all its resources together (0 = no limit)."),
        Option("rate_limit_burst", "size", "4MiB",
               "Bytes an account may send at once before rate_limit_bytes_per_second applies.",
               minimum="1KiB"),
        Option("ip_rate_limit_bytes_per_second", "size", "256KiB",
               "Bytes per second one IP address may send, before and after authentication (0 = no limit)."),
        Option("ip_rate_limit_burst", "size", "16MiB",
               "Bytes an IP address may send at once before ip_rate_limit_bytes_per_second applies.",
               minimum="1KiB"),
        Option("max_connections", "int", 10000,
               "Most admitted client connections (a stream header accepted) at once (0 = no limit).", minimum=0),
        Option("max_connections_per_ip", "int", 100,
               "Most admitted client connections from one IP address (0 = no limit).",
               minimum=0),
        Option("auth_timeout", "duration", "30s",
               "A stream not authenticated this long after it opened is closed.",
               minimum="1s"),
        Option("tls_handshake_timeout", "duration", "30s",
               "A TLS handshake not completed this long after it began is aborted.",
               minimum="1s"),
        Option("close_timeout", "duration", "10s",
               "A connection still open this long after its stream was closed is aborted.",
               minimum="1s"),
        Option("max_auth_attempts", "int", 5,
               "Failed authentication attempts allowed on one stream.", minimum=1),
        Option("login_failure_window", "duration", "10m",
               "How long a failed authentication counts against its IP address and account.",
               minimum="1s"),
        Option("login_failures_before_delay", "int", 10,
               "Failures per IP address or account within the window answered at once.",
               minimum=0),
        Option("login_failure_max_delay", "duration", "30s",
               "Longest delay of a throttled answer; it starts at 1s and doubles (0 = no throttle)."),
        Option("idle_timeout", "duration", None,
               "A client silent this long is sent an IQ probe; unset = never.",
               minimum="1s"),
        Option("ping_timeout", "duration", "60s",
               "How long that probe may go unanswered before the stream is closed.",
               minimum="1s"),
        Option("max_unacknowledged", "int", 5000,
               "Most messages a client without stream management may leave"
               " unacknowledged (its IQ probe unanswered) before it is disconnected;"
               " they are then routed again.", minimum=10),
    ],
    doc="Client-to-server connections.",
)

HOST_CERTIFICATE = Schema(
    [
        Option("certificate", "str", "", "PEM certificate (chain) file for this host."),
        Option("private_key", "str", "",
               "PEM private key file; empty = in the certificate file."),
    ],
)


def _parseHostCertificate(name, dottedKey, raw):
    try:
        normaliseDomain(name)
    except ValueError:
        raise ConfigError(f"{dottedKey}: {formatValue(name)} is not a host name",
                          dottedKey) from None
    if not isinstance(raw, dict) or "certificate" not in raw:
        raise ConfigError(
            f"{dottedKey} = {formatValue(raw)}: expected a table with certificate"
            " (and private_key)", dottedKey)
    section = HOST_CERTIFICATE.validate(raw, dottedKey)
    return section.replace(
        certificate=_absolute(section.certificate),
        private_key=_absolute(section.private_key or section.certificate),
    )


TLS = Schema(
    [
        Option("certificate", "str", "",
               "PEM certificate (chain) file; empty = a self-signed one in data_dir."),
        Option("private_key", "str", "",
               "PEM private key file; empty = in the certificate file or generated."),
        Option("handshake_threads", "int", 2,
               "Threads that run the costly step of a TLS handshake beside the event"
               " loop, on another core (0 = all on the event loop).",
               minimum=0, maximum=64),
        Entries("hosts",
                'Per-host certificates: [tls.hosts."example.org"] certificate = "…",'
                ' private_key = "…"; other hosts use the certificate above.',
                _parseHostCertificate),
    ],
    doc="TLS for STARTTLS and direct TLS.",
)

SQLITE = Schema(
    [
        Option("path", "str", "",
               "Database file; empty = xmppd.sqlite in data_dir."),
    ],
    doc="SQLite (WAL mode, one writer).",
)

MYSQL = Schema(
    [
        Option("host", "str", "127.0.0.1", "Database server host."),
        Option("port", "int", 3306, "Database server port.", minimum=1, maximum=65535),
        Option("unix_socket", "str", "",
               "Unix socket path; when set it is used instead of host and port."),
        Option("user", "str", "xmppd", "Database user."),
        Option("password", "str", "", "Database password."),
        Option("database", "str", "xmppd", "Database (schema) name.",
               check=checkNotEmpty),
        Option("pool_size", "int", 5, "Connections in the pool.", minimum=1),
        Option("driver", "str", "auto",
               "Python driver: mysqlclient (C, faster), pymysql (pure Python);"
               " auto = mysqlclient when installed, else pymysql.",
               choices=["auto", "mysqlclient", "pymysql"]),
    ],
    doc="MySQL 8 / MariaDB 10.6+ (InnoDB, utf8mb4).",
)

STORAGE = Schema(
    [
        Option("backend", "str", "sqlite",
               "Which database to use; \"memory\" keeps everything in the server's"
               " memory, for tests and throwaway servers: nothing survives a restart.",
               choices=["sqlite", "mysql", "memory"]),
        Table("sqlite", SQLITE, "Settings used when backend = \"sqlite\"."),
        Table("mysql", MYSQL, "Settings used when backend = \"mysql\"."),
    ],
    doc="Where accounts, rosters and offline messages are kept.",
)

METRICS = Schema(
    [
        Option("enabled", "bool", False, "Serve Prometheus metrics over HTTP."),
        Option("listen", "str", "127.0.0.1:9105",
               "HOST:PORT of the metrics endpoint.", check=checkHostPort),
    ],
    doc="Prometheus metrics.",
)

def _checkRedis(value):
    from xmppd.cluster.resp import parseAddress
    try:
        parseAddress(value)
    except ValueError:
        return ('expected "redis://HOST:PORT/DB", "unix:///PATH?db=N" or the path of'
                ' a unix socket')
    return None


def _checkNodeName(value):
    if value and not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", value):
        return "expected letters, digits, '.', '_' or '-' (at most 64), or empty"
    return None


CLUSTER = Schema(
    [
        Option("enabled", "bool", False,
               "Run as a node of a cluster (a [cluster] table alone enables it)."),
        Option("redis", "str", "redis://127.0.0.1:6379/0",
               "The Redis server of the cluster: redis://HOST:PORT/DB or a unix socket path.",
               check=_checkRedis),
        Option("node", "str", "",
               "This node's name, unique in the cluster; empty = the host name and an id"
               " of data_dir.", check=_checkNodeName),
        Option("lease", "duration", "3s",
               "A node silent this long is dead: its users go offline, what was on its way"
               " to them is routed again.", minimum="0.5s", maximum="60s"),
    ],
    doc="Several nodes behind one domain, on Redis and a shared MySQL/MariaDB"
        " (docs/cluster.md). Needs storage.backend = \"mysql\".",
)

DEFAULT_ACCESS = {
    "max_user_offline_messages": [
        {"acl": "admin", "value": 5000},
        {"acl": "all", "value": 1000},
    ],
}

ROOT = Schema(
    [
        Table("server", SERVER, SERVER.doc),
        Table("c2s", C2S, C2S.doc),
        Table("tls", TLS, TLS.doc),
        Table("storage", STORAGE, STORAGE.doc),
        Table("metrics", METRICS, METRICS.doc),
        Table("cluster", CLUSTER, CLUSTER.doc),
        Entries("acl",
                "Named lists of bare JIDs and domains; 'all' and 'admin' are built in.",
                parseAcl),
        Entries("access",
                "Named rules: the first item whose acl matches gives the value.",
                parseAccessRule, default=DEFAULT_ACCESS),
    ],
)


# -- the result ---------------------------------------------------------------


@dataclass(frozen=True)
class ServerConfig:
    """
    The whole validated configuration, shared read-only by every service.

    ``acl`` maps a name to canonical patterns (``user@host``, ``@host``),
    ``access`` a rule name to its AccessItems, ``modules`` a module name to
    its Section (always with ``enabled``), for every known module.
    """

    server: Section
    c2s: Section
    tls: Section
    storage: Section
    metrics: Section
    cluster: Optional[Section] = None
    acl: Mapping[str, tuple] = field(default_factory=lambda: MappingProxyType({}))
    access: Mapping[str, tuple] = field(default_factory=lambda: MappingProxyType({}))
    modules: Mapping[str, Section] = field(
        default_factory=lambda: MappingProxyType({})
    )
    source: Optional[str] = None

    @property
    def hosts(self):
        return self.server.hosts

    @property
    def data_dir(self):
        return self.server.data_dir

    @property
    def admins(self):
        return self.server.admins

    def enabledModules(self):
        """Names of the enabled modules, in the order they were declared."""
        return [name for name, options in self.modules.items() if options.enabled]

    def replace(self, **changes):
        """A copy with whole sections replaced (``c2s=config.c2s.replace(port=0)``)."""
        return replace(self, **changes)


def _validateModules(tables, modules):
    if not isinstance(tables, dict):
        raise ConfigError(
            f"modules = {formatValue(tables)}: expected a table of [modules.NAME] tables",
            "modules",
        )
    for name in tables:
        key = joinKey("modules", name)
        if name not in modules:
            known = ", ".join(sorted(modules)) or "none"
            raise ConfigError(f"unknown module {key} (known: {known})", key)
    result = {}
    depends = {}
    for name, declaration in modules.items():
        schema, enabledByDefault = declaration[:2]
        depends[name] = tuple(declaration[2]) if len(declaration) > 2 else ()
        if "enabled" in schema:
            raise ValueError(f"module {name} must not declare 'enabled' itself")
        full = schema.extendedWith(
            Option("enabled", "bool", bool(enabledByDefault),
                   "Whether the module runs (a [modules.NAME] table alone enables it).")
        )
        key = joinKey("modules", name)
        raw = tables.get(name)
        if raw is None:
            result[name] = full.defaults(key)
        else:
            options = full.validate(raw, key)
            if isinstance(raw, dict) and "enabled" not in raw:
                # SPEC "Config semantics": a table without `enabled` enables it.
                options = options.replace(enabled=True)
            result[name] = options
    _checkDependencies(result, depends, tables)
    return MappingProxyType(result)


def _checkDependencies(options, depends, tables):
    """
    A module runs only with the modules it depends on. One the operator
    enabled in a table needs them enabled too, or start-up stops naming the
    missing one; one that runs only by default steps aside with its
    dependency, so that ``[modules.offline] enabled = false`` alone is
    a valid config (Prosody loads a dependency instead; here what runs is
    always what the config says).
    """
    changed = True
    while changed:
        changed = False
        for name in sorted(options):
            if not options[name].enabled:
                continue
            for needed in depends.get(name, ()):
                if needed in options and options[needed].enabled:
                    continue
                key = joinKey("modules", name)
                if name in tables:
                    state = "not installed" if needed not in options else "not enabled"
                    raise ConfigError(
                        f"{key}: depends on module {needed}, which is {state}"
                        f" (enable [modules.{needed}] or disable {key})", key)
                options[name] = options[name].replace(enabled=False)
                changed = True
                break


def _absolute(path):
    return os.path.abspath(os.path.expanduser(path)) if path else path


def _crossCheck(root):
    server = root.server.replace(
        hosts=tuple(normaliseDomain(host) for host in root.server.hosts),
        admins=tuple(normaliseBareJID(admin) for admin in root.server.admins),
        data_dir=_absolute(root.server.data_dir),
    )

    c2s = root.c2s
    if c2s.direct_tls_port and c2s.direct_tls_port == c2s.port:
        raise ConfigError(
            f"c2s.direct_tls_port = {c2s.direct_tls_port}: expected a port other"
            " than c2s.port",
            "c2s.direct_tls_port",
        )

    tls = root.tls
    if tls.private_key and not tls.certificate:
        raise ConfigError(
            f"tls.certificate = \"\": expected the certificate file that goes with"
            f" tls.private_key = {formatValue(tls.private_key)}",
            "tls.certificate",
        )
    for name in tls.hosts:
        if normaliseDomain(name) not in server.hosts:
            key = joinKey("tls.hosts", name)
            raise ConfigError(f"{key}: {name} is not in server.hosts", key)
    tls = tls.replace(
        hosts=MappingProxyType({normaliseDomain(n): v for n, v in tls.hosts.items()}),
        certificate=_absolute(tls.certificate),
        private_key=_absolute(tls.private_key or tls.certificate),
    )

    sqlite = root.storage.sqlite
    sqlite = sqlite.replace(
        path=_absolute(sqlite.path) or os.path.join(server.data_dir, "xmppd.sqlite")
    )
    storage = root.storage.replace(sqlite=sqlite)

    defined = set(BUILTIN_ACLS) | set(root.acl)
    for rule, items in root.access.items():
        for index, item in enumerate(items):
            if item.acl not in defined:
                key = f"{joinKey('access', rule)}[{index}].acl"
                known = ", ".join(list(BUILTIN_ACLS) + sorted(root.acl))
                raise ConfigError(
                    f"{key} = {formatValue(item.acl)}: no such acl (defined: {known})",
                    key,
                )
    cluster = root.cluster
    if cluster.enabled and storage.backend != "mysql":
        raise ConfigError(
            f"storage.backend = {formatValue(storage.backend)}: [cluster] needs \"mysql\""
            " (every node shares one MySQL/MariaDB database)",
            "storage.backend",
        )
    return server, c2s, tls, storage, cluster


def parseConfig(data, modules=None, source=None):
    """
    Validate a config already parsed from TOML (a dict) against the schema.

    ``modules`` maps each module name to ``(Schema, enabledByDefault)``;
    a ``[modules.NAME]`` table for any other name is an error. Useful to
    tests, which can build a config without writing a file.
    """
    data = dict(data)
    moduleTables = data.pop("modules", {})
    if isinstance(data.get("cluster"), dict) and "enabled" not in data["cluster"]:
        # As with [modules.NAME]: the table alone enables it.
        data["cluster"] = dict(data["cluster"], enabled=True)
    root = ROOT.validate(data, "", alsoKnown=("modules",))
    moduleOptions = _validateModules(moduleTables, dict(modules or {}))
    server, c2s, tls, storage, cluster = _crossCheck(root)
    return ServerConfig(
        server=server,
        c2s=c2s,
        tls=tls,
        storage=storage,
        metrics=root.metrics,
        cluster=cluster,
        acl=root.acl,
        access=root.access,
        modules=moduleOptions,
        source=source,
    )


def loadConfig(path=None, modules=None):
    """
    The ServerConfig for the TOML file at ``path`` overlaid on the embedded
    defaults (``path=None``: the defaults alone). Raises ConfigError.
    """
    if path is None:
        return parseConfig({}, modules)
    try:
        with open(path, "rb") as configFile:
            data = tomllib.load(configFile)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: not UTF-8 ({e.reason} at byte {e.start})") from None
    return parseConfig(data, modules, source=str(path))
