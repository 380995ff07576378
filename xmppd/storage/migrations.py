"""
Schema deltas: numbered SQL files per dialect, applied once each at start-up.

``schema/<dialect>/NNNN_what.sql`` holds one delta; the number orders them
and is recorded in ``schema_version`` once applied, so that an upgrade
is a restart and never a hand-written ALTER. A new feature adds the next
number for both dialects. Statements end with ``;`` at the end of a line;
``--`` comments are allowed on lines of their own.
"""

import importlib.resources
import re
import time
from dataclasses import dataclass

_DELTA_FILE = re.compile(r"^(\d{4})_\w+\.sql$")
_STATEMENT_END = re.compile(r";[ \t]*(?:\n|$)")

_SCHEMA_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER NOT NULL PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    applied_at BIGINT NOT NULL
)"""


@dataclass(frozen=True)
class Delta:
    version: int
    name: str
    sql: str

    def statements(self):
        text = "\n".join(line for line in self.sql.splitlines()
                         if not line.lstrip().startswith("--"))
        return [s.strip() for s in _STATEMENT_END.split(text) if s.strip()]


def findDeltas(dialect, directory=None):
    """
    The deltas of ``dialect`` in version order, from the packaged
    ``schema/<dialect>/`` unless ``directory`` names another one.
    """
    if directory is None:
        directory = importlib.resources.files("xmppd.storage").joinpath("schema", dialect)
    deltas = {}
    for entry in directory.iterdir():
        match = _DELTA_FILE.match(entry.name)
        if match is None:
            continue
        version = int(match.group(1))
        if version in deltas:
            raise ValueError("two schema deltas numbered %04d: %s and %s"
                             % (version, deltas[version].name, entry.name))
        deltas[version] = Delta(version, entry.name, entry.read_text(encoding="utf-8"))
    return [deltas[v] for v in sorted(deltas)]


def applyDeltas(transaction, deltas):
    """
    An interaction: apply the deltas whose versions are not recorded yet,
    and return their names.
    """
    engine, cursor = transaction.engine, transaction.cursor
    engine.acquireSchemaLock(cursor)
    try:
        transaction.execute(_SCHEMA_VERSION_TABLE)
        applied = {row[0] for row in
                   transaction.execute("SELECT version FROM schema_version").fetchall()}
        names = []
        for delta in deltas:
            if delta.version in applied:
                continue
            for statement in delta.statements():
                transaction.execute(statement)
            transaction.execute(
                "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                (delta.version, delta.name, int(time.time() * 1_000_000)))
            names.append(delta.name)
        return names
    finally:
        try:
            engine.releaseSchemaLock(cursor)
        except engine.driverErrors:
            # The server frees a session's named locks when the session ends.
            pass
