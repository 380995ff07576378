"""
The config schema and loader: defaults, overlay, and one-line errors.
"""

import os
import re
import tomllib
from pathlib import Path

import pytest

from xmppd.config import (
    AccessItem,
    ConfigError,
    Option,
    Schema,
    Section,
    Table,
    loadConfig,
    parseConfig,
    parseDuration,
    parseHostPort,
    parseSize,
)

ETC_CONFIG = Path(__file__).resolve().parent.parent / "etc" / "xmppd.toml"

# Stand-ins for the schemas the modules declare themselves, matching what
# etc/xmppd.toml documents for them.
OFFLINE_SCHEMA = Schema(
    [
        Option("store_paths", "list-of-str", [], "Path matchers for body-less messages."),
        Option("store_groupchat_messages", "bool", False, "Store groupchat messages."),
        Option("pair_limit", "int", 100, "Stored messages per pair.", minimum=0),
        Option("access_max_user_messages", "str", "max_user_offline_messages",
               "Access rule capping a user's queue."),
        Option("user_limits", "bool", False, "Users may set their own limit."),
        Option("quota_exceeded", "str", "error", "What happens over a limit.",
               choices=["error", "drop"]),
        Option("delivery_batch", "int", 100, "Messages per delivery batch.", minimum=1),
        Option("expire_interval", "duration", "60s", "Expiry sweep interval.",
               minimum="1s"),
        Option("max_age", "duration", None, "Delete stored messages older than this."),
    ]
)
ROSTER_SCHEMA = Schema(
    [
        Option("max_roster_size", "int", 1000, "Most items in one roster.", minimum=1),
        Option("max_name_length", "int", 1024, "Longest item name.", minimum=1),
        Option("max_group_length", "int", 1024, "Longest group name.", minimum=1),
    ]
)
EMPTY = Schema([])
FAKE_MODULES = {
    "roster": (ROSTER_SCHEMA, True),
    "presence": (EMPTY, True),
    "disco": (EMPTY, True),
    "ping": (EMPTY, True),
    "version": (
        Schema([Option("show_os", "bool", False, "Reveal the operating system.")]),
        True,
    ),
    "offline": (OFFLINE_SCHEMA, True),
    "msgoffline": (EMPTY, True),
    "amp": (EMPTY, True),
    "register": (EMPTY, False),
    "offline_stub": (EMPTY, False),
    "adhoc": (EMPTY, True),
    "carbons": (EMPTY, True),
    "csi": (EMPTY, True),
    "blocking": (Schema([Option("max_items", "int", 1000, "Blocked JIDs.")]), True),
    "s2s": (EMPTY, False),
    "stream_management": (
        Schema([Option("resume_timeout", "duration", "300s", "Resumption window."),
                Option("max_unacked", "int", 10000, "Unacked stanzas kept.")]),
        True,
    ),
    "time": (EMPTY, True),
    "last": (EMPTY, True),
    "private": (
        Schema([Option("max_element_size", "int", 65536, "Largest element.", minimum=1),
                Option("max_namespaces", "int", 100, "Most namespaces.", minimum=1)]),
        True,
    ),
    "vcard": (Schema([Option("max_size", "int", 131072, "Largest vCard.", minimum=1)]), True),
    "caps": (EMPTY, True),
    "pep": (
        Schema([Option("max_items_per_node", "int", 256, "Items per node.", minimum=1),
                Option("max_nodes", "int", 128, "Nodes per account.", minimum=1),
                Option("max_item_size", "size", "128KiB", "Item size.", minimum="1KiB"),
                Option("caps_cache_size", "int", 1000, "Caps cache.", minimum=1),
                Option("default_access_model", "str", "presence", "Access model.",
                       choices=["presence", "open", "whitelist"])]),
        True,
    ),
    "mam": (
        Schema([Option("default", "str", "always", "Archiving default."),
                Option("max_age", "duration", None, "Archive retention."),
                Option("retention_interval", "duration", "1h", "Retention sweep interval."),
                Option("page_size", "int", 50, "Default page."),
                Option("max_page_size", "int", 250, "Largest page."),
                Option("rsm_count", "bool", False, "Count in every page."),
                Option("sync_replaces_offline", "bool", True, "MAM sync replaces the flood.")]),
        False,
    ),
    "flexible_offline": (EMPTY, True),
}


def load(tmp_path, text, modules=FAKE_MODULES):
    path = tmp_path / "xmppd.toml"
    path.write_text(text, encoding="utf-8")
    return loadConfig(str(path), modules)


def loadError(tmp_path, text, modules=FAKE_MODULES):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, modules)
    message = str(caught.value)
    assert "\n" not in message
    return message


# -- defaults and overlay -----------------------------------------------------


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = loadConfig()
    assert config.hosts == ("localhost",)
    assert config.data_dir == str(tmp_path / "xmppd-data")
    assert config.admins == ()
    assert config.c2s.interface == "0.0.0.0"
    assert config.c2s.port == 5222
    assert config.c2s.direct_tls_port == 0
    assert config.c2s.require_encryption is True
    assert config.c2s.stanza_size_limit == 262144
    assert config.c2s.max_connections == 10000
    assert config.c2s.auth_timeout == 30
    assert config.c2s.max_auth_attempts == 5
    assert config.c2s.idle_timeout is None
    assert config.tls.certificate == ""
    assert config.tls.private_key == ""
    assert config.storage.backend == "sqlite"
    assert config.storage.sqlite.path == str(tmp_path / "xmppd-data" / "xmppd.sqlite")
    assert config.storage.mysql.port == 3306
    assert config.storage.mysql.pool_size == 5
    assert config.storage.mysql.driver == "auto"
    assert config.metrics.enabled is False
    assert config.metrics.listen == "127.0.0.1:9105"
    assert dict(config.acl) == {}
    assert config.access["max_user_offline_messages"] == (
        AccessItem("admin", 5000),
        AccessItem("all", 1000),
    )
    assert dict(config.modules) == {}


def test_modules_keep_their_default_enabled_state_when_absent():
    config = loadConfig(None, FAKE_MODULES)
    assert config.enabledModules() == [
        "roster", "presence", "disco", "ping", "version",
        "offline", "msgoffline", "amp", "adhoc", "carbons", "csi", "blocking",
        "stream_management", "time", "last", "private", "vcard", "caps", "pep",
        "flexible_offline",
    ]
    assert config.modules["register"].enabled is False
    assert config.modules["offline"].pair_limit == 100
    assert config.modules["offline"].expire_interval == 60
    assert config.modules["offline"].max_age is None


def test_file_overlays_defaults_key_by_key(tmp_path):
    config = load(
        tmp_path,
        """
        [server]
        hosts = ["Example.COM", "chat.example.com"]
        admins = ["Boss@example.com"]
        [c2s]
        port = 15222
        [storage.mysql]
        password = "secret"
        [modules.offline]
        pair_limit = 7
        max_age = "30d"
        """,
    )
    assert config.hosts == ("example.com", "chat.example.com")
    assert config.admins == ("boss@example.com",)
    assert config.c2s.port == 15222
    assert config.c2s.interface == "0.0.0.0"
    assert config.storage.backend == "sqlite"
    assert config.storage.mysql.password == "secret"
    assert config.storage.mysql.user == "xmppd"
    assert config.modules["offline"].pair_limit == 7
    assert config.modules["offline"].max_age == 30 * 86400
    assert config.modules["offline"].quota_exceeded == "error"
    assert config.modules["offline"].enabled is True
    assert config.source == str(tmp_path / "xmppd.toml")


def test_access_rules_overlay_rule_by_rule(tmp_path):
    config = load(
        tmp_path,
        """
        [acl]
        staff = ["@staff.example.com", "boss@example.com", "example.org"]
        [access]
        register = [{acl = "staff", value = "allow"}, {acl = "all", value = "deny"}]
        """,
    )
    assert config.acl["staff"] == ("@staff.example.com", "boss@example.com", "@example.org")
    assert config.access["register"][0] == AccessItem("staff", "allow")
    assert config.access["max_user_offline_messages"][1] == AccessItem("all", 1000)

    config = load(
        tmp_path,
        '[access]\nmax_user_offline_messages = [{acl = "all", value = "infinity"}]\n',
    )
    assert config.access["max_user_offline_messages"] == (AccessItem("all", "infinity"),)


def test_module_table_without_enabled_enables_the_module(tmp_path):
    config = load(tmp_path, "[modules.register]\n[modules.offline_stub]\nenabled = false\n")
    assert config.modules["register"].enabled is True
    assert config.modules["offline_stub"].enabled is False
    config = load(tmp_path, "[modules.offline]\nenabled = false\n")
    assert "offline" not in config.enabledModules()


def test_relative_paths_are_made_absolute_against_the_current_directory(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    config = load(
        tmp_path,
        """
        [server]
        data_dir = "state"
        [tls]
        certificate = "certs/combined.pem"
        [storage.sqlite]
        path = "db/x.sqlite"
        """,
    )
    assert config.data_dir == str(tmp_path / "state")
    assert config.tls.certificate == str(tmp_path / "certs" / "combined.pem")
    assert config.tls.private_key == config.tls.certificate
    assert config.storage.sqlite.path == str(tmp_path / "db" / "x.sqlite")


def test_parseConfig_builds_a_config_from_a_dict():
    config = parseConfig({"c2s": {"interface": "127.0.0.1", "port": 0}}, FAKE_MODULES)
    assert (config.c2s.interface, config.c2s.port) == ("127.0.0.1", 0)
    changed = config.replace(c2s=config.c2s.replace(port=5299))
    assert changed.c2s.port == 5299 and config.c2s.port == 0


# -- the annotated default config -------------------------------------------


def installedModules():
    """The real module plugins, over the stand-ins for those not written yet."""
    pytest.importorskip("xmppd.imodule")
    from twisted.plugin import getPlugins

    import xmppd.plugins
    from xmppd.imodule import IModule

    # Built-in modules only: third-party ones (the example plugin, when
    # installed) document themselves, not in etc/xmppd.toml.
    real = {
        module.name: (module.schema, module.enabledByDefault)
        for module in getPlugins(IModule, xmppd.plugins)
        if getattr(module, "builtin", True)
    }
    return {**FAKE_MODULES, **real}, real


def test_etc_config_matches_the_installed_modules(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    modules, real = installedModules()
    annotated = loadConfig(str(ETC_CONFIG), modules)
    defaults = loadConfig(None, modules)
    for name in real:
        assert annotated.modules[name] == defaults.modules[name], name
    shown = _tablesOf(ETC_CONFIG.read_text(encoding="utf-8"))
    for name, (schema, _) in real.items():
        for option in schema:
            assert option.key in shown[f"modules.{name}"], f"modules.{name}.{option.key}"


def _tablesOf(text):
    """Map each [table] header of a TOML text to the keys shown under it,
    commented-out ones included."""
    tables, current = {}, ""
    for line in text.splitlines():
        header = re.match(r"^\[([a-z0-9_.]+)\]$", line)
        if header:
            current = header.group(1)
            tables.setdefault(current, set())
            continue
        key = re.match(r"^(?:# )?([a-z0-9_]+) = ", line)
        if key:
            tables.setdefault(current, set()).add(key.group(1))
    return tables


def _schemaKeys(schema, prefix):
    for entry in schema:
        if isinstance(entry, Table):
            yield from _schemaKeys(entry.schema, f"{prefix}.{entry.key}")
        elif isinstance(entry, Option):
            yield prefix, entry.key


def test_etc_config_shows_every_key_of_every_table():
    from xmppd.config.server import ROOT

    shown = _tablesOf(ETC_CONFIG.read_text(encoding="utf-8"))
    for entry in ROOT:
        if isinstance(entry, Table):
            for table, key in _schemaKeys(entry.schema, entry.key):
                assert key in shown.get(table, ()), f"{table}.{key} missing"
        else:
            assert entry.key in shown
    for name, (schema, _) in FAKE_MODULES.items():
        table = f"modules.{name}"
        assert "enabled" in shown[table]
        for option in schema:
            assert option.key in shown[table], f"{table}.{option.key} missing"


# -- one-line errors naming the key ---------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ('[c2s]\nport = "abc"\n', 'c2s.port = "abc": expected an integer from 0 to 65535'),
        ("[c2s]\nport = 70000\n", "c2s.port = 70000: expected an integer from 0 to 65535"),
        ("[c2s]\nport = true\n", "c2s.port = true: expected an integer from 0 to 65535"),
        ('[storage]\nbackend = "pgsql"\n',
         'storage.backend = "pgsql": expected one of "sqlite", "mysql", "memory"'),
        ('[c2s]\nrequire_encryption = "yes"\n',
         'c2s.require_encryption = "yes": expected true or false'),
        ('[c2s]\nauth_timeout = "5 minutes"\n',
         'c2s.auth_timeout = "5 minutes": expected a duration of at least 1s'
         ' (seconds, or a string like "30s", "15m", "12h", "30d")'),
        ('[c2s]\nstanza_size_limit = "lots"\n',
         'c2s.stanza_size_limit = "lots": expected a size of at least 1KiB'
         ' (bytes, or a string like "64KiB", "1MiB", "1GiB")'),
        ('[c2s]\ninterface = "localhost"\n',
         'c2s.interface = "localhost": expected an IP address to listen on'
         ' ("0.0.0.0" = every IPv4 address, "::" = every address)'),
        ("[c2s]\nport = 5222\ndirect_tls_port = 5222\n",
         "c2s.direct_tls_port = 5222: expected a port other than c2s.port"),
        ("[server]\nhosts = []\n", "server.hosts = []: expected at least one host name"),
        ('[server]\nhosts = ["bad host"]\n',
         'server.hosts = ["bad host"]: "bad host" is not a valid domain name'),
        ('[server]\nhosts = ["a.example", "A.example"]\n',
         'server.hosts = ["a.example", "A.example"]: "a.example" is listed twice'),
        ('[server]\nhosts = "localhost"\n',
         'server.hosts = "localhost": expected a list of strings'),
        ('[server]\nadmins = ["example.com"]\n',
         'server.admins = ["example.com"]: "example.com" is not a bare JID (user@host)'),
        ('[server]\nadmins = ["a@example.com/phone"]\n',
         'server.admins = ["a@example.com/phone"]: "a@example.com/phone" is not a bare'
         " JID (user@host)"),
        ('[metrics]\nlisten = "9105"\n',
         'metrics.listen = "9105": expected "HOST:PORT", e.g. "127.0.0.1:9105" or'
         ' "[::1]:9105"'),
        ('[tls]\nprivate_key = "key.pem"\n',
         'tls.certificate = "": expected the certificate file that goes with'
         ' tls.private_key = "key.pem"'),
        ("[c2s]\nprot = 5222\n",
         "unknown key c2s.prot (known: interface, port, direct_tls_port, reuse_port,"
         " require_encryption, stanza_size_limit, preauth_stanza_size_limit,"
         " max_stanza_depth, output_buffer_limit, rate_limit_bytes_per_second,"
         " rate_limit_burst, ip_rate_limit_bytes_per_second, ip_rate_limit_burst,"
         " max_connections,"
         " max_connections_per_ip, auth_timeout, tls_handshake_timeout, close_timeout,"
         " max_auth_attempts, login_failure_window, login_failures_before_delay,"
         " login_failure_max_delay, idle_timeout,"
         " ping_timeout, max_unacknowledged)"),
        ('hosts = ["example.com"]\n',
         "unknown key hosts (known: server, c2s, tls, storage, metrics, cluster, acl,"
         " access, modules)"),
        ("c2s = 5\n", "c2s = 5: expected a table"),
        ('[storage.mysql]\nusr = "x"\n',
         "unknown key storage.mysql.usr (known: host, port, unix_socket, user,"
         " password, database, pool_size, driver)"),
        ('[acl]\nadmin = ["a@example.com"]\n',
         'acl.admin = ["a@example.com"]: the acl "admin" is built in (all = everyone,'
         " admin = server.admins) and cannot be redefined"),
        ('[acl]\nstaff = ["a@b/c"]\n',
         'acl.staff = ["a@b/c"]: "a@b/c" is not a bare JID ("user@host") nor a domain'
         ' ("@host")'),
        ('[access]\nx = [{acl = "staff", value = 3}]\n',
         'access.x[0].acl = "staff": no such acl (defined: all, admin)'),
        ('[access]\nx = [{acl = "all", value = -1}]\n',
         'access.x[0].value = -1: expected an integer of at least 0, "infinity",'
         ' "allow" or "deny"'),
        ('[access]\nx = [{acl = "all", valeu = 1}]\n',
         "unknown key access.x[0].valeu (known: acl, value)"),
        ('[access]\nx = [{acl = "admin", value = "allow"}, {acl = "all", value = 5}]\n',
         'access.x = [{acl = "admin", value = "allow"}, {acl = "all", value = 5}]:'
         ' a rule gives either limits or "allow"/"deny", not both'),
        ("[modules.muc]\n",
         "unknown module modules.muc (known: adhoc, amp, blocking, caps, carbons, csi, disco,"
         " flexible_offline, last, mam, msgoffline, offline, offline_stub, pep, ping, presence,"
         " private, register, roster, s2s, stream_management, time, vcard, version)"),
        ('[modules.offline]\npair_limit = "many"\n',
         'modules.offline.pair_limit = "many": expected an integer of at least 0'),
        ('[modules.offline]\nquota_exceeded = "bounce"\n',
         'modules.offline.quota_exceeded = "bounce": expected one of "error", "drop"'),
        ("[modules.offline]\npairlimit = 5\n",
         "unknown key modules.offline.pairlimit (known: enabled, store_paths,"
         " store_groupchat_messages, pair_limit, access_max_user_messages,"
         " user_limits, quota_exceeded, delivery_batch, expire_interval, max_age)"),
        ('[modules.ping]\nenabled = "no"\n',
         'modules.ping.enabled = "no": expected true or false'),
        ("[modules]\nping = false\n", "modules.ping = false: expected a table"),
    ],
)
def test_bad_value_is_one_line_naming_key_value_and_what_is_allowed(
    tmp_path, text, expected
):
    assert loadError(tmp_path, text) == expected


def test_errors_carry_the_dotted_key(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, '[storage.mysql]\nport = "x"\n')
    assert caught.value.key == "storage.mysql.port"


def test_invalid_toml_names_the_file(tmp_path):
    message = loadError(tmp_path, "[c2s]\nport = \n")
    path = str(tmp_path / "xmppd.toml")
    assert message == f"{path}: invalid TOML: Invalid value (at line 2, column 8)"


def test_file_that_is_not_utf8_is_invalid_toml(tmp_path):
    path = tmp_path / "xmppd.toml"
    path.write_bytes(b'[server]\nhosts = ["\xff"]\n')
    with pytest.raises(ConfigError, match=r"invalid TOML: not UTF-8"):
        loadConfig(str(path))


def test_missing_file_is_one_line(tmp_path):
    path = str(tmp_path / "nope.toml")
    with pytest.raises(ConfigError) as caught:
        loadConfig(path)
    assert str(caught.value) == f"{path}: cannot read: No such file or directory"


def test_modules_none_means_every_module_table_is_unknown(tmp_path):
    assert (
        loadError(tmp_path, "[modules.offline]\n", modules=None)
        == "unknown module modules.offline (known: none)"
    )


# -- durations and sizes ----------------------------------------------------


@pytest.mark.parametrize(
    "raw, seconds",
    [(0, 0), (45, 45), (1.5, 1.5), ("30s", 30), ("15m", 900), ("12h", 43200),
     ("30d", 2592000), ("1w", 604800), ("1.5h", 5400), (" 2m ", 120)],
)
def test_duration_accepts_seconds_and_unit_strings(raw, seconds):
    assert parseDuration(raw) == seconds


@pytest.mark.parametrize("raw", ["30", "30x", "-5s", -1, True, "", "1h30m", [30]])
def test_duration_rejects_everything_else(raw):
    with pytest.raises(ValueError):
        parseDuration(raw)


@pytest.mark.parametrize(
    "raw, size",
    [(0, 0), (1000, 1000), ("512B", 512), ("256KiB", 262144), ("1MiB", 1048576),
     ("1GiB", 1 << 30), ("1.5KiB", 1536), ("2kB", 2000), ("3MB", 3000000),
     ("256kib", 262144)],
)
def test_size_accepts_bytes_and_unit_strings(raw, size):
    assert parseSize(raw) == size


@pytest.mark.parametrize("raw", ["256", "1TiB", "-1KiB", -1, 1.5, False, "KiB"])
def test_size_rejects_everything_else(raw):
    with pytest.raises(ValueError):
        parseSize(raw)


def test_duration_and_size_options_overlay_from_a_file(tmp_path):
    config = load(
        tmp_path,
        '[c2s]\nauth_timeout = 10\nidle_timeout = "5m"\nstanza_size_limit = "1MiB"\n',
    )
    assert config.c2s.auth_timeout == 10
    assert config.c2s.idle_timeout == 300
    assert config.c2s.stanza_size_limit == 1048576


@pytest.mark.parametrize(
    "text, pair",
    [("127.0.0.1:9105", ("127.0.0.1", 9105)), ("[::1]:9105", ("::1", 9105)),
     ("localhost:0", ("localhost", 0))],
)
def test_host_port_parsing(text, pair):
    assert parseHostPort(text) == pair


# -- the schema library itself ----------------------------------------------


def test_option_default_prints_as_declared():
    assert Option("t", "duration", "30s", "A timeout.").defaultText == '"30s"'
    assert Option("t", "duration", "30s", "A timeout.").default == 30
    assert Option("l", "list-of-str", [], "A list.").defaultText == "[]"
    assert Option("b", "bool", True, "A flag.").defaultText == "true"
    assert Option("o", "duration", None, "Unset.").defaultText is None
    assert Option("o", "duration", None, "Unset.").optional


def test_option_declaration_mistakes_fail_at_import():
    with pytest.raises(ValueError):
        Option("port", "int", "x", "A port.")
    with pytest.raises(ValueError):
        Option("port", "integer", 1, "A port.")
    with pytest.raises(ValueError):
        Option("port", "int", 1, "")
    with pytest.raises(ValueError):
        Option("Port", "int", 1, "A port.")
    with pytest.raises(ValueError):
        Schema([Option("a", "int", 1, "A."), Option("a", "int", 2, "A.")])


def test_option_check_gives_the_tail_of_the_error():
    schema = Schema(
        [Option("even", "int", 2, "An even number.",
                check=lambda v: None if v % 2 == 0 else "expected an even number")]
    )
    assert schema.validate({"even": 4}, "x").even == 4
    with pytest.raises(ConfigError) as caught:
        schema.validate({"even": 3}, "x")
    assert str(caught.value) == "x.even = 3: expected an even number"


def test_list_option_with_choices_checks_each_member():
    option = Option("kinds", "list-of-str", ["a"], "Kinds.", choices=["a", "b"])
    assert option.validate(["b", "a"], "k") == ("b", "a")
    with pytest.raises(ConfigError, match=r'k = \["c"\]: expected a list of strings, each'):
        option.validate(["c"], "k")


def test_section_is_read_only_and_hides_passwords():
    section = Section({"user": "x", "password": "secret"}, "storage.mysql")
    with pytest.raises(AttributeError):
        section.user = "y"
    with pytest.raises(AttributeError):
        section.nothing
    assert "secret" not in repr(section)
    assert section.replace(user="y").user == "y"
    assert section.asDict() == {"user": "x", "password": "secret"}


def test_module_schema_may_not_declare_enabled():
    schema = Schema([Option("enabled", "bool", True, "Twice.")])
    with pytest.raises(ValueError):
        loadConfig(None, {"odd": (schema, True)})


def test_etc_config_is_valid_toml_with_module_tables():
    with open(ETC_CONFIG, "rb") as f:
        data = tomllib.load(f)
    assert sorted(data["modules"]) == sorted(FAKE_MODULES)
    assert not os.path.isabs(data["server"]["data_dir"])
