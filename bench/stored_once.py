"""
What an offline message costs the database with MAM on, with the offline
queue of its own (``offline_in_archive = false``: the archive row plus a
full copy in offline_messages) and with the queue kept in the archive (the
default: the archive row plus a reference in mam_offline).

    python3 -m bench.stored_once [--messages 2000] [--mysql HOST:PORT:USER:PASSWORD:DB]

For each layout it stores ``--messages`` typical chat messages (a body, a
receipt request, a chat marker, an origin-id, a chat state, the archive's
stanza-id) the way the server does, one at a time with the default limits,
and prints per message: rows written, bytes of XML kept, the growth of the
database (SQLite: pages in use; MariaDB: InnoDB data and index length
after ANALYZE, which is page-granular and approximate), transactions, and
the median store time. The MariaDB database given must be empty; its
tables are dropped at the end.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid

from twisted.internet import defer, task
from twisted.words.protocols.jabber.jid import JID
from wokkel.generic import parseXml

from xmppd.api import annotate
from xmppd.mam.archive import ARCHIVING, ArchiveWriter, OfflineArchiving
from xmppd.mam.queue import ArchiveQueue
from xmppd.mam.stanzaids import ArchiveClock, addStanzaId, newStanzaId
from xmppd.mam.store import MamStore
from xmppd.offline.service import storedCopy
from xmppd.offline.store import OfflineStore
from xmppd.storage import Database

RECIPIENT = "bob@example.org"
SENDER = "alice@example.org"
LIMITS = dict(pairLimit=100_000, userLimit=100_000, userBytesLimit=32 * 1024 * 1024)


def chatMessage(n):
    origin = str(uuid.uuid4())
    return parseXml((
        "<message xmlns='jabber:client' from='%s/Conversations.Xk3f' to='%s' type='chat'"
        " id='%s'><body>Are we still on for lunch tomorrow? Message %d.</body>"
        "<request xmlns='urn:xmpp:receipts'/><markable xmlns='urn:xmpp:chat-markers:0'/>"
        "<origin-id xmlns='urn:xmpp:sid:0' id='%s'/>"
        "<active xmlns='http://jabber.org/protocol/chatstates'/></message>"
        % (SENDER, RECIPIENT, origin, n, origin)).encode("utf-8"))


class Archiver:
    def __init__(self):
        self.clock = ArchiveClock()
        self.writer = ArchiveWriter(None)


async def databaseSize(database):
    def measure(transaction):
        if database.engine.name == "sqlite":
            transaction.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            pages = transaction.execute("PRAGMA page_count").fetchone()[0]
            free = transaction.execute("PRAGMA freelist_count").fetchone()[0]
            size = transaction.execute("PRAGMA page_size").fetchone()[0]
            return (pages - free) * size
        for table in ("mam_messages", "mam_offline", "offline_messages"):
            transaction.execute("ANALYZE TABLE %s" % table)
            transaction.fetchall()
        transaction.execute(
            "SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables"
            " WHERE table_schema = DATABASE() AND table_name IN"
            " ('mam_messages', 'mam_offline', 'offline_messages')")
        return int(transaction.fetchone()[0])
    if database.engine.name == "sqlite":
        # The WAL checkpoint runs outside a transaction.
        pool = database.pool
        return await pool.runWithConnection(
            lambda connection: measure(connection.cursor()))
    return await database.runInteraction(measure)


async def xmlBytes(database):
    rows = await database.runQuery(
        "SELECT (SELECT COALESCE(SUM(%s), 0) FROM mam_messages),"
        " (SELECT COALESCE(SUM(%s), 0) FROM mam_offline),"
        " (SELECT COALESCE(SUM(%s), 0) FROM offline_messages),"
        " (SELECT COUNT(*) FROM mam_messages) + (SELECT COUNT(*) FROM mam_offline)"
        " + (SELECT COUNT(*) FROM offline_messages)"
        % tuple(database.engine.octetLength(c) for c in ("xml", "xml", "xml")))
    archive, queue, own, count = rows[0]
    return int(archive) + int(queue or 0) + int(own), int(count)


async def run(database, layout, messages):
    archiver = Archiver()
    mam, queue, offline = MamStore(database), ArchiveQueue(database), OfflineStore(database)
    sizeBefore = await databaseSize(database)
    transactions, seconds = 0, []
    for n in range(messages):
        message = chatMessage(n)
        stanzaId = newStanzaId()
        addStanzaId(message, RECIPIENT, stanzaId)
        storedAt = int(time.time() * 1_000_000)
        xml = storedCopy(message, "example.org", storedAt)
        started = time.perf_counter()
        if layout == "archive":
            annotate(message, ARCHIVING, OfflineArchiving(
                archiver, RECIPIENT, JID(SENDER + "/Conversations.Xk3f"), stanzaId))
            await queue.store(RECIPIENT, SENDER, xml, storedAt, stanza=message, **LIMITS)
            transactions += 1
        else:
            await offline.store(RECIPIENT, SENDER, xml, storedAt, **LIMITS)
            await mam.append([(RECIPIENT, stanzaId, archiver.clock.next(), SENDER,
                               "Conversations.Xk3f", message.toXml())])
            transactions += 2
        seconds.append(time.perf_counter() - started)
    stored, rows = await xmlBytes(database)
    grown = await databaseSize(database) - sizeBefore
    return {"rows": rows / messages, "xml": stored / messages, "db": grown / messages,
            "transactions": transactions / messages,
            "store_us": statistics.median(seconds) * 1e6}


async def clear(database):
    for table in ("mam_messages", "mam_offline", "offline_messages", "offline_locks",
                  "mam_offline_locks"):
        await database.runOperation("DELETE FROM %s" % table)


async def bench(backend, options, messages):
    schema = ["xmppd.offline", "xmppd.mam"]
    results = {}
    for layout in ("own", "archive"):
        if backend == "sqlite":
            options = dict(path=os.path.join(tempfile.mkdtemp(prefix="stored-once-"),
                                             "bench.sqlite"))
        database = Database(backend, schema=schema, **options)
        await database.start()
        try:
            if backend == "mysql":
                await clear(database)
            results[layout] = await run(database, layout, messages)
            if backend == "mysql":
                await clear(database)
        finally:
            await database.stop()
    return results


def main(reactor, argv):
    parser = argparse.ArgumentParser(prog="bench.stored_once")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--mysql", metavar="HOST:PORT:USER:PASSWORD:DB")
    args = parser.parse_args(argv)
    backends = [("sqlite", {})]
    if args.mysql:
        host, port, user, password, name = args.mysql.split(":", 4)
        backends.append(("mysql", dict(host=host, port=int(port), user=user,
                                       password=password, database=name)))

    async def go():
        print("%-7s %-22s %6s %9s %9s %6s %10s" % (
            "backend", "layout", "rows", "xml B", "db B", "txns", "store µs"))
        for backend, options in backends:
            results = await bench(backend, options, args.messages)
            for layout, label in (("own", "offline copy + archive"),
                                  ("archive", "archive + reference")):
                r = results[layout]
                print("%-7s %-22s %6.2f %9.0f %9.0f %6.2f %10.0f" % (
                    backend, label, r["rows"], r["xml"], r["db"], r["transactions"],
                    r["store_us"]))
    return defer.ensureDeferred(go())


if __name__ == "__main__":
    task.react(main, [sys.argv[1:]])
