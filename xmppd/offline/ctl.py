"""
``xmppctl offline``: an operator's view of the offline queues (SPEC §9) --
count, list and purge a user's stored messages, purge what expired or is
older than N days, read and set a user's own limit.

Each command works on the configured storage directly, so it runs with the
server stopped or running (the server reads limits per message and the
queue per delivery). It works on every offline queue the configuration
opens -- the offline module's own and the one a module provides (mam's
with ``offline_in_archive``) -- since a message waits in one or the other
until the server's next start hands it over to the queue in use.
"""

import time
from datetime import datetime, timezone

from xmppd.api import CommandError, IOfflineQueue, existingAccount
from xmppd.offline.service import LIMIT_KEY, LIMIT_NODE


def _nowMicroseconds():
    return int(time.time() * 1_000_000)


def _stamp(microseconds):
    if microseconds is None:
        return "-"
    moment = datetime.fromtimestamp(microseconds / 1_000_000, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def queues(storage):
    """The offline module's queue first, then any other IOfflineQueue store."""
    own = storage.offline
    return [own] + [getattr(storage, name) for name in storage.names()
                    if getattr(storage, name) is not own
                    and IOfflineQueue.providedBy(getattr(storage, name))]


async def count(config, storage, args):
    jid = await existingAccount(config, storage, args.jid)
    print(sum([await queue.count(jid) for queue in queues(storage)]))


async def listMessages(config, storage, args):
    jid = await existingAccount(config, storage, args.jid)
    rows = [row for queue in queues(storage) for row in await queue.listMessages(jid)]
    # Each queue in its order; together, oldest first.
    rows.sort(key=lambda row: row[2])
    for rowId, sender, storedAt, expiresAt, xml in rows:
        print("%s\t%s\t%s\texpires %s\t%s" % (rowId, _stamp(storedAt), sender,
                                               _stamp(expiresAt), xml))


async def purge(config, storage, args):
    if args.expired:
        now = _nowMicroseconds()
        deleted = sum([len(await queue.purgeExpired(now)) for queue in queues(storage)])
        print("purged %d expired messages" % deleted)
    elif args.older_than is not None:
        if args.older_than < 0:
            raise CommandError("--older-than takes a number of days of at least 0")
        cutoff = _nowMicroseconds() - int(args.older_than * 86400 * 1_000_000)
        deleted = sum([await queue.purgeOlderThan(cutoff) for queue in queues(storage)])
        print("purged %d messages older than %s days" % (deleted, _days(args.older_than)))
    elif args.jid:
        jid = await existingAccount(config, storage, args.jid)
        deleted = sum([await queue.purge(jid) for queue in queues(storage)])
        print("purged %d messages of %s" % (deleted, jid))
    else:
        raise CommandError("offline purge needs USER@HOST, --expired or --older-than DAYS")


async def limit(config, storage, args):
    jid = await existingAccount(config, storage, args.jid)
    options = config.modules["offline"]
    if args.value is None:
        value = await storage.settings.get(jid, LIMIT_NODE, LIMIT_KEY)
        if value is None or not options.user_limits:
            print("%s (pair_limit)" % options.pair_limit)
        else:
            print(value)
        return
    value = args.value.strip()
    if value != "false" and not (value and all("0" <= c <= "9" for c in value)):
        raise CommandError("the limit must be a non-negative integer or false, not %r"
                           % (args.value,))
    if value != "false":
        value = str(int(value))
    await storage.settings.set(jid, LIMIT_NODE, LIMIT_KEY, value)
    note = "" if options.user_limits else " (takes effect with modules.offline.user_limits = true)"
    print("offline limit of %s set to %s%s" % (jid, value, note))


def _days(value):
    return ("%g" % value)


def addOfflineCommands(subparsers):
    offline = subparsers.add_parser("offline", help="stored offline messages")
    commands = offline.add_subparsers(dest="offline_command", required=True,
                                      metavar="COMMAND")
    sub = commands.add_parser("count", help="how many messages a user has waiting")
    sub.add_argument("jid", metavar="USER@HOST")
    sub.set_defaults(run=count)
    sub = commands.add_parser("list", help="a user's waiting messages, oldest first")
    sub.add_argument("jid", metavar="USER@HOST")
    sub.set_defaults(run=listMessages)
    sub = commands.add_parser("purge", help="delete waiting messages")
    target = sub.add_mutually_exclusive_group(required=True)
    target.add_argument("jid", nargs="?", metavar="USER@HOST", help="all of this user's")
    target.add_argument("--expired", action="store_true", help="every expired message")
    target.add_argument("--older-than", type=float, metavar="DAYS",
                        help="every message stored more than DAYS days ago")
    sub.set_defaults(run=purge)
    sub = commands.add_parser("limit", help="read or set a user's own pair limit")
    sub.add_argument("jid", metavar="USER@HOST")
    sub.add_argument("value", nargs="?", metavar="N|false")
    sub.set_defaults(run=limit)
