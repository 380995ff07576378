"""
``xmppctl digest USER@HOST``: who left how many messages in a user's
offline queue since the digest was last taken (digest_notice takes it at
each login), most first; ``xmppctl digest reset USER@HOST`` empties it.

Contributed through the ``xmppd.ctl`` entry point; the command runs on
the configured storage directly, with the server running or stopped.
"""

from datetime import datetime, timezone

from xmppd.api import CommandError, existingAccount

USAGE = "xmppctl digest [reset] USER@HOST"


def _stamp(microseconds):
    moment = datetime.fromtimestamp(microseconds / 1_000_000, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def digest(config, storage, args):
    options = config.modules.get("digest")
    if options is None or not options.enabled:
        raise CommandError("digest is not enabled (add a [modules.digest] table)")
    if args.jid is None:
        jid = await existingAccount(config, storage, args.first)
        senders = await storage.digest.senders(jid)
        if not senders:
            print("no messages stored for %s since its last digest" % jid)
        for sender in senders:
            print("%s\t%d\t%s" % (sender.jid, sender.messages, _stamp(sender.lastStored)))
    elif args.first == "reset":
        jid = await existingAccount(config, storage, args.jid)
        cleared = await storage.digest.reset(jid)
        print("digest of %s reset (%d sender%s)" % (jid, cleared, "" if cleared == 1 else "s"))
    else:
        raise CommandError("usage: %s" % USAGE)


def addDigestCommands(commands):
    sub = commands.add_parser("digest", usage=USAGE,
                              help="messages stored for a user since its last digest")
    sub.add_argument("first", metavar="reset|USER@HOST")
    sub.add_argument("jid", nargs="?", metavar="USER@HOST")
    sub.set_defaults(run=digest)
