"""
Schema deltas: numbered SQL files per feature and dialect, applied once each
at start-up.

A feature's deltas live in the package that owns its tables, as
``<package>/schema/<dialect>/NNNN_what.sql``: the core's (accounts,
settings, rosters) in ``xmppd/storage/schema/``, the offline queue's in
``xmppd/offline/schema/``, a third-party module's in its own package. The
number orders a feature's deltas and nothing else; each applied delta is
recorded in ``schema_version`` as (feature, version), the feature being
``core`` or the package's name, so that an upgrade is a restart and never a
hand-written ALTER, and a module enabled later gets its tables on the start
that enables it. Statements end with ``;`` at the end of a line; ``--``
comments are allowed on lines of their own.

Before features had deltas of their own, one global numbering covered every
table; a database from then is converted on its first start (see
``LEGACY_VERSIONS``) without running anything twice.
"""

import importlib.resources
import re
import time
from dataclasses import dataclass

CORE = "core"
CORE_PACKAGE = "xmppd.storage"

_DELTA_FILE = re.compile(r"^(\d{4})_\w+\.sql$")
_STATEMENT_END = re.compile(r";[ \t]*(?:\n|$)")

_SCHEMA_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    feature VARCHAR(190) NOT NULL,
    version INTEGER NOT NULL,
    name VARCHAR(255) NOT NULL,
    applied_at BIGINT NOT NULL,
    PRIMARY KEY (feature, version)
)"""

# The global numbering of releases before per-feature deltas, and what each
# of its versions became: (feature, version, file name). Frozen: the files
# of that time are kept in tests/storage/legacy_schema/ to prove it.
LEGACY_VERSIONS = {
    1: [(CORE, 1, "0001_initial.sql"), ("xmppd.offline", 1, "0001_offline.sql")],
    2: [(CORE, 2, "0002_roster.sql")],
    3: [("xmppd.blocking", 1, "0001_blocklist.sql")],
    10: [("xmppd.lastactivity", 1, "0001_last_activity.sql")],
    11: [("xmppd.private", 1, "0001_private_xml.sql")],
    12: [("xmppd.vcard", 1, "0001_vcards.sql")],
    40: [("xmppd.pep", 1, "0001_pep.sql")],
    50: [("xmppd.mam", 1, "0001_mam.sql")],
}
# Where a database being converted keeps the old records meanwhile: until it
# is dropped, a start that was interrupted converts again.
_LEGACY_TABLE = "schema_version_global"


@dataclass(frozen=True)
class Delta:
    feature: str
    version: int
    name: str
    sql: str

    def statements(self):
        text = "\n".join(line for line in self.sql.splitlines()
                         if not line.lstrip().startswith("--"))
        return [s.strip() for s in _STATEMENT_END.split(text) if s.strip()]


def featureName(package):
    """How ``schema_version`` names the feature whose tables ``package`` holds."""
    return CORE if package == CORE_PACKAGE else package


def findDeltas(dialect, package=CORE_PACKAGE, directory=None):
    """
    The deltas of one feature for ``dialect`` in version order: those in
    ``package``'s ``schema/<dialect>/``, or in ``directory`` when given. A
    package without a directory for the dialect has no tables there.
    """
    feature = featureName(package)
    if directory is None:
        directory = importlib.resources.files(package) / "schema" / dialect
        if not directory.is_dir():
            return []
    deltas = {}
    for entry in directory.iterdir():
        match = _DELTA_FILE.match(entry.name)
        if match is None:
            continue
        version = int(match.group(1))
        if version in deltas:
            raise ValueError("%s: two schema deltas numbered %04d: %s and %s"
                             % (feature, version, deltas[version].name, entry.name))
        deltas[version] = Delta(feature, version, entry.name,
                                entry.read_text(encoding="utf-8"))
    return [deltas[v] for v in sorted(deltas)]


def deltasFor(dialect, packages):
    """The core's deltas, then those of each package in ``packages`` (once each)."""
    deltas, seen = [], set()
    for package in [CORE_PACKAGE] + list(packages):
        if package not in seen:
            seen.add(package)
            deltas += findDeltas(dialect, package)
    return deltas


def applyDeltas(transaction, deltas):
    """
    An interaction: apply the deltas whose (feature, version) is not
    recorded yet, each feature's in order, and return their names as
    ``feature/NNNN_what.sql``.
    """
    engine, cursor = transaction.engine, transaction.cursor
    engine.acquireSchemaLock(cursor)
    try:
        _convertLegacy(transaction)
        transaction.execute(_SCHEMA_VERSION_TABLE)
        applied = appliedVersions(transaction)
        names = []
        for delta in deltas:
            if (delta.feature, delta.version) in applied:
                continue
            for statement in delta.statements():
                transaction.execute(statement)
            transaction.execute(
                "INSERT INTO schema_version (feature, version, name, applied_at)"
                " VALUES (?, ?, ?, ?)",
                (delta.feature, delta.version, delta.name, _now()))
            names.append("%s/%s" % (delta.feature, delta.name))
        # The records must be visible before the lock goes: a node that
        # took it next read schema_version without the last records (the
        # tables, whose DDL commits at once, were there) and ran their
        # deltas again ("Table 'vcards' already exists").
        engine.commitBeforeSchemaUnlock(cursor)
        return names
    finally:
        try:
            engine.releaseSchemaLock(cursor)
        except engine.driverErrors:
            # The server frees a session's named locks when the session ends.
            pass


def appliedVersions(transaction):
    """The recorded (feature, version) pairs (an interaction's helper)."""
    return {(row[0], int(row[1])) for row in transaction.execute(
        "SELECT feature, version FROM schema_version").fetchall()}


def recordedFeatures(transaction):
    """An interaction: the features that have tables in this database."""
    if "schema_version" not in transaction.engine.listTables(transaction.cursor):
        return set()
    return {feature for feature, _ in appliedVersions(transaction)}


def _columns(transaction, table):
    transaction.execute("SELECT * FROM %s WHERE 1 = 0" % table)
    columns = [column[0] for column in transaction.cursor.description]
    transaction.fetchall()
    return columns


def _convertLegacy(transaction):
    """
    Turn a ``schema_version`` of the global numbering into per-feature
    records. The old table is renamed aside first and dropped last; every
    step in between only adds records that are missing, so that a start
    interrupted anywhere (MySQL commits each DDL statement) converts again.
    Nothing but records changes: the tables are the ones the deltas made.
    """
    tables = transaction.engine.listTables(transaction.cursor)
    if "schema_version" in tables and "feature" not in _columns(transaction, "schema_version"):
        if _LEGACY_TABLE in tables:
            raise RuntimeError("both schema_version and %s hold global schema versions"
                               % _LEGACY_TABLE)
        transaction.execute("ALTER TABLE schema_version RENAME TO %s" % _LEGACY_TABLE)
        tables.append(_LEGACY_TABLE)
    if _LEGACY_TABLE not in tables:
        return
    transaction.execute(_SCHEMA_VERSION_TABLE)
    applied = appliedVersions(transaction)
    for version, appliedAt in transaction.execute(
            "SELECT version, applied_at FROM %s ORDER BY version" % _LEGACY_TABLE).fetchall():
        if int(version) not in LEGACY_VERSIONS:
            raise RuntimeError(
                "schema_version records version %04d, which no release of xmppd had;"
                " this database was not made by xmppd" % int(version))
        for feature, featureVersion, name in LEGACY_VERSIONS[int(version)]:
            if (feature, featureVersion) not in applied:
                transaction.execute(
                    "INSERT INTO schema_version (feature, version, name, applied_at)"
                    " VALUES (?, ?, ?, ?)", (feature, featureVersion, name, int(appliedAt)))
    transaction.execute("DROP TABLE %s" % _LEGACY_TABLE)


def _now():
    return int(time.time() * 1_000_000)
