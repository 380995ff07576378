"""
Schema deltas: each feature's applied once each, in order, recorded in
schema_version as (feature, version), so that restarting, upgrading or
enabling a module never needs a hand-written ALTER -- and a database of the
releases before per-feature deltas (one global numbering) is taken over at
its first start without running anything twice or losing a row.
"""

import os
import shutil
import sqlite3

import pymysql
import pytest
import pytest_twisted
from twisted.internet import defer

from tests.storage.conftest import builtinFeaturePackages
from xmppd.storage import Database, openStores
from xmppd.storage.migrations import LEGACY_VERSIONS, Delta, deltasFor, findDeltas

LEGACY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "legacy_schema")
CORE_TABLES = ["roster_items", "roster_pending", "roster_versions", "schema_version",
               "settings", "users"]
KEYS = {"sha1": (b"s" * 16, 4096, b"k" * 20, b"v" * 20),
        "sha256": (b"t" * 16, 4096, b"K" * 32, b"V" * 32)}


def listTables(database):
    return database.runInteraction(
        lambda transaction: transaction.engine.listTables(transaction.cursor))


def recorded(database):
    d = database.runQuery("SELECT feature, version, name FROM schema_version")
    d.addCallback(sorted)
    return d


def columnsOf(database, tables):
    def read(transaction):
        columns = {}
        for table in tables:
            transaction.execute("SELECT * FROM %s WHERE 1 = 0" % table)
            columns[table] = [c[0] for c in transaction.cursor.description]
            transaction.fetchall()
        return columns
    return database.runInteraction(read)


def sinceTheLegacyRelease():
    """The deltas that came after the last release of the global numbering."""
    legacy = {(feature, version) for parts in LEGACY_VERSIONS.values()
              for feature, version, _ in parts}
    return ["%s/%s" % (d.feature, d.name) for d in deltasFor("sqlite", builtinFeaturePackages())
            if (d.feature, d.version) not in legacy]


def test_each_feature_numbers_its_own_deltas_from_0001():
    for package in ["xmppd.storage"] + builtinFeaturePackages():
        for dialect in ("sqlite", "mysql"):
            versions = [d.version for d in findDeltas(dialect, package)]
            assert versions and versions == list(range(1, len(versions) + 1)), package


def test_both_dialects_have_the_same_deltas():
    for package in ["xmppd.storage"] + builtinFeaturePackages():
        assert ([d.name for d in findDeltas("sqlite", package)]
                == [d.name for d in findDeltas("mysql", package)]), package


def test_two_deltas_with_one_number_are_refused(tmp_path):
    shutil.copy(__file__, tmp_path / "0001_a.sql")
    shutil.copy(__file__, tmp_path / "0001_b.sql")
    with pytest.raises(ValueError, match="0001"):
        findDeltas("sqlite", "xmppd.extra", tmp_path)


@pytest_twisted.ensureDeferred
async def test_a_fresh_database_gets_the_core_tables_only(backend, make_database):
    database = await make_database(backend)
    assert [t for t in await listTables(database) if not t.startswith("sqlite")] == CORE_TABLES
    assert await recorded(database) == [
        ("core", 1, "0001_initial.sql"), ("core", 2, "0002_roster.sql")]


@pytest_twisted.ensureDeferred
async def test_a_feature_enabled_later_gets_its_tables_on_the_next_start(backend, make_database):
    database = await make_database(backend)
    database.addSchema("xmppd.offline")
    assert await database.applySchema() == ["xmppd.offline/0001_offline.sql",
                                            "xmppd.offline/0002_offline_by_recipient.sql"]
    assert {"offline_locks", "offline_messages"} <= set(await listTables(database))
    assert ("xmppd.offline", 1, "0001_offline.sql") in await recorded(database)
    assert await database.applySchema() == []


@pytest_twisted.ensureDeferred
async def test_a_restart_keeps_data_and_applies_nothing(backend, database_options):
    from xmppd.offline.store import OfflineStore
    options = database_options(backend)
    first = Database(backend, schema=["xmppd.offline"], **options)
    await first.start()
    await OfflineStore(first).store("alice@example.org", "bob@example.org", "<m/>", 1)
    versions = await recorded(first)
    await first.stop()

    second = Database(backend, schema=["xmppd.offline"], **options)
    try:
        assert await second.start() == []
        assert await recorded(second) == versions
        assert await OfflineStore(second).count("alice@example.org") == 1
    finally:
        await second.stop()


@pytest_twisted.ensureDeferred
async def test_nodes_starting_at_once_on_a_fresh_database_apply_each_delta_once(
        backend, database_options):
    """
    Cluster nodes share one MariaDB: each waits for the schema lock in turn,
    and sees what the one before it recorded, even when that one's commit
    comes late after its lock is gone (a loaded machine: here, 0.3 s).
    """
    import time

    from twisted.internet import defer
    options = database_options(backend)
    nodes = [Database(backend, schema=builtinFeaturePackages(), **options) for _ in range(3)]
    for node in nodes:
        def slowAfterRelease(cursor, _release=node.engine.releaseSchemaLock):
            _release(cursor)
            time.sleep(0.3)
        node.engine.releaseSchemaLock = slowAfterRelease
    try:
        applied = await defer.gatherResults([node.start() for node in nodes], consumeErrors=True)
        names = [name for each in applied for name in each]
        assert len(names) == len(set(names)) and names
        assert await recorded(nodes[0]) == await recorded(nodes[-1])
    finally:
        for node in nodes:
            await node.stop()


@pytest_twisted.ensureDeferred
async def test_a_new_delta_of_a_feature_is_applied_once(database, tmp_path):
    (tmp_path / "0001_extra.sql").write_text(
        "-- a module's table, with a comment; and a second statement\n"
        "CREATE TABLE extra_items (owner VARCHAR(100) NOT NULL, item VARCHAR(100) NOT NULL);\n"
        "CREATE INDEX extra_items_owner ON extra_items (owner);\n")
    (tmp_path / "README").write_text("not a delta")
    deltas = findDeltas(database.engine.name, "xmppd_extra", tmp_path)

    # Its 0001 is its own: the core's 0001 is recorded already.
    assert await database.applySchema(deltas) == ["xmppd_extra/0001_extra.sql"]
    assert "extra_items" in await listTables(database)
    assert await database.applySchema(deltas) == []

    (tmp_path / "0002_more.sql").write_text("ALTER TABLE extra_items ADD COLUMN note TEXT;\n")
    assert await database.applySchema(findDeltas(database.engine.name, "xmppd_extra",
                                                 tmp_path)) == ["xmppd_extra/0002_more.sql"]
    assert ("xmppd_extra", 2, "0002_more.sql") in await recorded(database)


# A database of the global numbering ---------------------------------------------------


def legacyDeltas(dialect):
    """The schema files of the last release before per-feature deltas, as it read them."""
    directory = os.path.join(LEGACY, dialect)
    return [Delta("legacy", int(name[:4]), name,
                  open(os.path.join(directory, name), encoding="utf-8").read())
            for name in sorted(os.listdir(directory)) if name.endswith(".sql")]


# What that release wrote, with its own schema_version table.
LEGACY_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER NOT NULL PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    applied_at BIGINT NOT NULL
)"""

LEGACY_ROWS = [
    ("INSERT INTO users (jid, sha1_salt, sha1_iterations, sha1_stored_key, sha1_server_key,"
     " sha256_salt, sha256_iterations, sha256_stored_key, sha256_server_key, created_at)"
     " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
     ("alice@example.org",) + KEYS["sha1"] + KEYS["sha256"] + (1,)),
    ("INSERT INTO settings (jid, node, name, value) VALUES (?, ?, ?, ?)",
     ("alice@example.org", "offline-msgs", "store-limit", "7")),
    ("INSERT INTO offline_messages (recipient, sender, stored_at, expires_at, xml)"
     " VALUES (?, ?, ?, ?, ?)", ("alice@example.org", "bob@example.org", 5, None, "<m/>")),
    ("INSERT INTO roster_items (owner, contact, name, groups_json, subscription,"
     " pending_out, approved) VALUES (?, ?, ?, ?, ?, ?, ?)",
     ("alice@example.org", "bob@example.org", "Bob", "[\"Friends\"]", "both", 0, 0)),
    ("INSERT INTO roster_versions (owner, version) VALUES (?, ?)", ("alice@example.org", 3)),
    ("INSERT INTO blocklist (owner, item_hash, item) VALUES (?, ?, ?)",
     ("alice@example.org", "h", "mallory@example.org")),
    ("INSERT INTO last_activity (jid, logout_at, status) VALUES (?, ?, ?)",
     ("alice@example.org", 1000, "away")),
    ("INSERT INTO private_xml (owner, namespace, xml) VALUES (?, ?, ?)",
     ("alice@example.org", "storage:bookmarks", "<storage xmlns='storage:bookmarks'/>")),
    ("INSERT INTO vcards (owner, xml, photo_hash) VALUES (?, ?, ?)",
     ("alice@example.org", "<vCard xmlns='vcard-temp'/>", "")),
    ("INSERT INTO pep_nodes (owner, node, config_json, created_at) VALUES (?, ?, ?, ?)",
     ("alice@example.org", "urn:xmpp:avatar:metadata", "{}", 1)),
    ("INSERT INTO mam_messages (owner, stanza_id, stamp, with_bare, with_resource, xml)"
     " VALUES (?, ?, ?, ?, ?, ?)",
     ("alice@example.org", "sid1", 10, "bob@example.org", "pc", "<message/>")),
]


def connect(backend, options):
    """A plain driver connection, as the old release's pool would have made."""
    if backend == "sqlite":
        return sqlite3.connect(options["path"], isolation_level=None), "?"
    # The old release spoke PyMySQL whatever driver the pool of this run uses.
    connectArguments = {key: value for key, value in options.items() if key != "driver"}
    return pymysql.connect(charset="utf8mb4", autocommit=True, binary_prefix=True,
                           **connectArguments), "%s"


def buildLegacyDatabase(backend, options, versions=None, rows=True):
    """What the last release left on disk: its tables, its records, some rows."""
    connection, placeholder = connect(backend, options)
    try:
        cursor = connection.cursor()
        cursor.execute(LEGACY_VERSION_TABLE)
        for delta in legacyDeltas(backend):
            if versions is not None and delta.version not in versions:
                continue
            for statement in delta.statements():
                cursor.execute(statement)
            cursor.execute("INSERT INTO schema_version (version, name, applied_at)"
                           " VALUES (%s, '%s', %d)" % (delta.version, delta.name,
                                                       1_600_000_000_000_000 + delta.version))
        for sql, args in (LEGACY_ROWS if rows else []):
            cursor.execute(sql.replace("?", placeholder), args)
    finally:
        connection.close()


def test_every_legacy_version_is_mapped_to_the_delta_that_holds_its_tables():
    legacy = {d.version: d for d in legacyDeltas("sqlite")}
    assert sorted(legacy) == sorted(LEGACY_VERSIONS)
    current = {(d.feature, d.version): d
               for d in deltasFor("sqlite", builtinFeaturePackages())}
    for version, delta in legacy.items():
        parts = [current[feature, v] for feature, v, _ in LEGACY_VERSIONS[version]]
        assert [p.name for p in parts] == [name for _, _, name in LEGACY_VERSIONS[version]]
        # The same statements, split over features: nothing added, nothing lost.
        assert sorted(s for p in parts for s in p.statements()) == sorted(delta.statements())


@pytest_twisted.ensureDeferred
async def test_a_legacy_database_is_taken_over_without_running_a_delta_again(
        backend, database_options, make_database):
    options = database_options(backend)
    buildLegacyDatabase(backend, options)
    fresh = await make_database(backend, schema=builtinFeaturePackages())

    database = Database(backend, schema=builtinFeaturePackages(), **options)
    try:
        # Every table exists already: a delta run again would fail here. Only
        # what came since (the archive's offline queue) is applied.
        assert await database.start() == sinceTheLegacyRelease()
        assert await recorded(database) == await recorded(fresh)
        tables = await listTables(database)
        assert "schema_version_global" not in tables
        assert tables == await listTables(fresh)
        assert await columnsOf(database, tables) == await columnsOf(fresh, tables)
        appliedAt = dict(((f, v), at) for f, v, at in await database.runQuery(
            "SELECT feature, version, applied_at FROM schema_version"))
        assert appliedAt["xmppd.mam", 1] == 1_600_000_000_000_050

        # The rows are there, for the stores of the new layout.
        from xmppd.tap import availableModules
        modules = list(availableModules().values())
        storage = openStores(database, modules, modules)
        assert await storage.users.getKeys("alice@example.org", "sha256") == KEYS["sha256"]
        assert await storage.settings.get("alice@example.org", "offline-msgs",
                                          "store-limit") == "7"
        assert await storage.offline.count("alice@example.org") == 1
        version, items = await storage.roster.getRoster("alice@example.org")
        assert version == 3 and [(i.contact, i.groups) for i in items] == [
            ("bob@example.org", ("Friends",))]
        assert await storage.blocklist.all() == {"alice@example.org": {"mallory@example.org"}}
        assert await storage.lastActivity.get("alice@example.org") == (1000, "away")
        assert await storage.vcards.get("alice@example.org") is not None
        assert await storage.pep.getNode("alice@example.org", "urn:xmpp:avatar:metadata") == {}
        assert await storage.mam.count("alice@example.org") == 1
    finally:
        await database.stop()

    again = Database(backend, schema=builtinFeaturePackages(), **options)
    try:
        assert await again.start() == []
        assert await recorded(again) == await recorded(fresh)
    finally:
        await again.stop()


@pytest_twisted.ensureDeferred
async def test_a_legacy_database_started_with_modules_off_records_their_tables_too(
        backend, database_options):
    options = database_options(backend)
    buildLegacyDatabase(backend, options, rows=False)
    database = Database(backend, **options)
    try:
        assert await database.start() == []
        features = {feature for feature, _, _ in await recorded(database)}
        assert features == {"core"} | set(builtinFeaturePackages())
        # Enabling pep later finds its tables recorded: nothing to run.
        database.addSchema("xmppd.pep")
        assert await database.applySchema() == []
    finally:
        await database.stop()


@pytest_twisted.ensureDeferred
async def test_an_older_legacy_database_gets_the_deltas_it_never_had(backend, database_options):
    options = database_options(backend)
    buildLegacyDatabase(backend, options, versions={1, 2, 3}, rows=False)
    database = Database(backend, schema=["xmppd.pep", "xmppd.blocking"], **options)
    try:
        assert await database.start() == ["xmppd.pep/0001_pep.sql"]
        assert "pep_nodes" in await listTables(database)
    finally:
        await database.stop()


@pytest_twisted.ensureDeferred
async def test_a_takeover_interrupted_after_the_rename_is_finished_on_the_next_start(
        backend, database_options):
    options = database_options(backend)
    buildLegacyDatabase(backend, options, rows=False)
    connection, _ = connect(backend, options)
    try:
        # As MySQL leaves it when the process dies after the rename (each
        # DDL statement commits): the old records aside, an empty new table.
        cursor = connection.cursor()
        cursor.execute("ALTER TABLE schema_version RENAME TO schema_version_global")
        cursor.execute("CREATE TABLE schema_version (feature VARCHAR(190) NOT NULL,"
                       " version INTEGER NOT NULL, name VARCHAR(255) NOT NULL,"
                       " applied_at BIGINT NOT NULL, PRIMARY KEY (feature, version))")
        cursor.execute("INSERT INTO schema_version VALUES ('core', 1, '0001_initial.sql', 1)")
    finally:
        connection.close()
    database = Database(backend, schema=builtinFeaturePackages(), **options)
    try:
        assert await database.start() == sinceTheLegacyRelease()
        assert "schema_version_global" not in await listTables(database)
        assert len(await recorded(database)) == sum(
            len(v) for v in LEGACY_VERSIONS.values()) + len(sinceTheLegacyRelease())
    finally:
        await database.stop()


@pytest_twisted.ensureDeferred
async def test_a_legacy_version_no_release_had_stops_the_start(backend, database_options):
    options = database_options(backend)
    buildLegacyDatabase(backend, options, rows=False)
    connection, _ = connect(backend, options)
    try:
        connection.cursor().execute(
            "INSERT INTO schema_version (version, name, applied_at) VALUES (77, '0077_x.sql', 1)")
    finally:
        connection.close()
    database = Database(backend, **options)
    try:
        with pytest.raises(Exception, match="0077"):
            await database.start()
    finally:
        await database.stop()


# The offline queue clustered by recipient (xmppd.offline 0002) ------------------------


def primaryKeyOf(database, table):
    """The primary key's columns in order (MariaDB), or None where it is SQLite's rowid."""
    if database.engine.name != "mysql":
        return defer.succeed(None)
    d = database.runQuery(
        "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE"
        " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY'"
        " ORDER BY ORDINAL_POSITION", (table,))
    d.addCallback(lambda rows: [row[0] for row in rows])
    return d


@pytest_twisted.ensureDeferred
async def test_clustering_the_offline_queue_by_recipient_keeps_every_row_in_order(
        backend, make_database):
    from xmppd.offline.store import OfflineStore
    recipients = ["alice@example.org", "bob@example.org", "carol@example.org"]
    database = await make_database(backend)
    offline = OfflineStore(database)
    first = findDeltas(database.engine.name, "xmppd.offline")[0]
    assert await database.applySchema([first]) == ["xmppd.offline/0001_offline.sql"]
    # A burst to several recipients at once: each one's rows are spread
    # between the others' in id order, as on a busy server.
    calls = [(recipient, n) for n in range(40) for recipient in recipients]
    await defer.gatherResults([
        offline.store(recipient, "dave@example.org", "<message n='%d'/>" % n, 1000 + n,
                      expiresAt=None if n % 3 else 5000 + n)
        for recipient, n in calls])
    last = (await offline.export(0, 1000))[-1][0]
    assert await offline.delete([last]) == 1
    before = {r: await offline.listMessages(r) for r in recipients}
    everything = await offline.export(0, 1000)
    assert len(everything) == len(calls) - 1

    database.addSchema("xmppd.offline")
    assert await database.applySchema() == ["xmppd.offline/0002_offline_by_recipient.sql"]

    assert {r: await offline.listMessages(r) for r in recipients} == before
    assert await offline.export(0, 1000) == everything
    assert [row[0] for row in await offline.fetch("bob@example.org", limit=5, now=0)] == [
        row[0] for row in before["bob@example.org"][:5]]
    # Ids go on from where they were, past the deleted last one too.
    assert await offline.store("bob@example.org", "dave@example.org", "<m/>", 9) > last
    assert await primaryKeyOf(database, "offline_messages") in (None, ["recipient", "id"])
    assert await database.applySchema() == []


@pytest_twisted.ensureDeferred
async def test_a_fresh_offline_queue_on_mariadb_is_clustered_by_recipient(make_database):
    database = await make_database("mysql", schema=["xmppd.offline"])
    assert await primaryKeyOf(database, "offline_messages") == ["recipient", "id"]
    indexes = {(row[2], row[4]): row[1] for row in await database.runQuery(
        "SHOW INDEX FROM offline_messages")}
    # Non_unique 0: ids stay unique, and AUTO_INCREMENT has its key.
    assert indexes[("offline_messages_id", "id")] == 0
    assert not any(name == "offline_messages_recipient_id" for name, _ in indexes)
