"""
``xmppctl mam``: an operator's hand on the message archives (XEP-0313) --
how many messages a user's archive holds, and purging one user's archive
or everything archived more than N days ago (what ``max_age`` does on a
running server, once).
"""

import time

from xmppd.api import CommandError, existingAccount


async def count(config, storage, args):
    jid = await existingAccount(config, storage, args.jid)
    print(await storage.mam.count(jid))


async def purge(config, storage, args):
    if args.older_than is not None:
        if args.older_than < 0:
            raise CommandError("--older-than takes a number of days of at least 0")
        cutoff = int(time.time() * 1_000_000) - int(args.older_than * 86400 * 1_000_000)
        deleted = await storage.mam.purgeOlderThan(cutoff)
        print("purged %d archived messages older than %g days" % (deleted, args.older_than))
    elif args.jid:
        jid = await existingAccount(config, storage, args.jid)
        deleted = await storage.mam.purge(jid)
        print("purged %d archived messages of %s" % (deleted, jid))
    else:
        raise CommandError("mam purge needs USER@HOST or --older-than DAYS")


def addMamCommands(subparsers):
    mam = subparsers.add_parser("mam", help="message archives (XEP-0313)")
    commands = mam.add_subparsers(dest="mam_command", required=True, metavar="COMMAND")
    sub = commands.add_parser("count", help="how many messages a user's archive holds")
    sub.add_argument("jid", metavar="USER@HOST")
    sub.set_defaults(run=count)
    sub = commands.add_parser("purge", help="delete archived messages")
    target = sub.add_mutually_exclusive_group(required=True)
    target.add_argument("jid", nargs="?", metavar="USER@HOST", help="all of this user's")
    target.add_argument("--older-than", type=float, metavar="DAYS",
                        help="every message archived more than DAYS days ago")
    sub.set_defaults(run=purge)
