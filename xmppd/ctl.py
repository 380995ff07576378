"""
``xmppctl``: the operator's command line, on the same config and storage as
the server (SPEC §9).

Every command opens the configured database with the stores of the enabled
modules (applying schema deltas, as the server does), does one thing, and exits 0 on success or 1 with one line on
stderr naming what was wrong: an unknown user, a host this server does not
serve, a bad config key.
"""

import argparse
import getpass
import sys
from importlib.metadata import entry_points

from twisted.internet import defer, task
from twisted.words.protocols.jabber.jid import InvalidFormat, JID

from xmppd.accounts import AccountKeysNotAnnounced, AccountManager
from xmppd.config import ConfigError, loadConfig
from xmppd.storage import MissingStore, StorageError, UnknownUser, UserExists


class CommandError(Exception):
    """A failure the operator can fix; printed as one line."""


def parseAccount(config, text):
    """A bare JID of a served host, normalised; CommandError otherwise."""
    try:
        jid = JID(text)
    except (InvalidFormat, UnicodeError, ValueError):
        raise CommandError("%r is not a valid JID" % (text,))
    if not jid.user or jid.resource:
        raise CommandError("%r is not an account (expected USER@HOST)" % (text,))
    if jid.host not in config.hosts:
        raise CommandError("%s is not a host of this server (hosts: %s)"
                           % (jid.host, ", ".join(config.hosts)))
    return jid.userhost()


async def existingAccount(config, storage, text):
    """``parseAccount``, and the account must exist; CommandError otherwise."""
    jid = parseAccount(config, text)
    if not await storage.users.exists(jid):
        raise CommandError("no such user: %s" % jid)
    return jid


def readPassword(args):
    if args.password_file:
        try:
            with open(args.password_file, encoding="utf-8") as f:
                password = f.readline().rstrip("\r\n")
        except OSError as e:
            raise CommandError("cannot read %s: %s" % (args.password_file, e.strerror))
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise CommandError("the passwords differ")
    if not password:
        raise CommandError("the password is empty")
    return password


async def adduser(config, storage, args):
    jid = parseAccount(config, args.jid)
    password = readPassword(args)
    try:
        await AccountManager(storage, config.data_dir).create(jid, password)
    except UserExists:
        raise CommandError("%s already exists" % jid)
    print("created %s" % jid)


async def passwd(config, storage, args):
    jid = parseAccount(config, args.jid)
    if not await storage.users.exists(jid):
        raise CommandError("no such user: %s" % jid)
    password = readPassword(args)
    try:
        await AccountManager(storage, config.data_dir).setPassword(jid, password)
    except UnknownUser:
        raise CommandError("no such user: %s" % jid)
    print("password changed for %s" % jid)


async def deluser(config, storage, args):
    jid = parseAccount(config, args.jid)
    try:
        await AccountManager(storage, config.data_dir).delete(jid)
    except UnknownUser:
        raise CommandError("no such user: %s" % jid)
    print("deleted %s" % jid)


async def users(config, storage, args):
    if args.host and args.host not in config.hosts:
        raise CommandError("%s is not a host of this server" % args.host)
    for jid in await storage.users.listUsers(args.host):
        print(jid)


async def s2s(config, storage, args):
    """The open s2s streams, from the status file the running server keeps."""
    import datetime

    from xmppd.s2s.status import readStatus
    options = config.modules.get("s2s")
    if options is None or not options.enabled:
        raise CommandError("s2s is not enabled (set [modules.s2s] enabled = true)")
    status = readStatus(config.data_dir)
    if status is None:
        raise CommandError("xmppd is not running (no live s2s status in %s)" % config.data_dir)
    rows = status["connections"]
    if not rows:
        print("no s2s connections")
        return
    table = [("DIRECTION", "LOCAL", "REMOTE", "AUTH", "SINCE", "ADDRESS")]
    for row in rows:
        since = datetime.datetime.fromtimestamp(row["since"], datetime.timezone.utc)
        table.append((row["direction"], row["local"], row["remote"], row["auth"],
                      since.strftime("%Y-%m-%dT%H:%M:%SZ"), row["address"] or "-"))
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for r in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(r, widths)).rstrip())


def buildParser():
    parser = argparse.ArgumentParser(prog="xmppctl", description="Administer an xmppd server.")
    parser.add_argument("-c", "--config", help="TOML config file (default: embedded defaults)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for name, fn, helpText in (("adduser", adduser, "create an account"),
                               ("passwd", passwd, "change an account's password")):
        sub = commands.add_parser(name, help=helpText)
        sub.add_argument("jid", metavar="USER@HOST")
        sub.add_argument("--password-file", help="read the password from the first line of FILE")
        sub.set_defaults(run=fn)
    sub = commands.add_parser("deluser", help="delete an account and all its data")
    sub.add_argument("jid", metavar="USER@HOST")
    sub.set_defaults(run=deluser)
    sub = commands.add_parser("users", help="list accounts")
    sub.add_argument("host", nargs="?", help="only this host")
    sub.set_defaults(run=users)
    sub = commands.add_parser("s2s", help="show the running server's s2s connections")
    sub.set_defaults(run=s2s, storage=False)
    addModuleCommands(commands)
    return parser


def addModuleCommands(commands):
    """
    The subcommands modules contribute: each distribution (xmppd itself
    for ``offline`` and ``mam``) names a function in its ``xmppd.ctl``
    entry points that adds its parsers to ``commands``; a command whose
    ``run(config, storage, args)`` is set like the built-in ones.
    """
    for entry in sorted(entry_points(group="xmppd.ctl"), key=lambda e: e.name):
        entry.load()(commands)


async def runCommand(args):
    from xmppd.tap import availableModules, moduleSchemas, openStorage
    modules = availableModules()
    config = loadConfig(args.config, moduleSchemas(modules))
    if not getattr(args, "storage", True):
        return await args.run(config, None, args)
    if config.storage.backend == "memory":
        raise CommandError('storage.backend = "memory": the server\'s accounts and messages'
                           " live in its own process, out of xmppctl's reach")
    storage = openStorage(config, modules)
    await storage.start()
    try:
        await args.run(config, storage, args)
    except MissingStore as e:
        raise CommandError("%s: is its module enabled in the config?" % (e,))
    finally:
        await storage.stop()


def main(argv=None):
    args = buildParser().parse_args(argv)

    async def run():
        try:
            await runCommand(args)
        except (CommandError, ConfigError) as e:
            sys.stderr.write("xmppctl: %s\n" % (e,))
            raise SystemExit(1)
        except StorageError as e:
            sys.stderr.write("xmppctl: storage failed: %s\n" % (e,))
            raise SystemExit(1)
        except AccountKeysNotAnnounced as e:
            sys.stderr.write("xmppctl: %s\n" % (e,))
            raise SystemExit(1)

    # react() exits the process with the command's status.
    task.react(lambda reactor: defer.ensureDeferred(run()))


if __name__ == "__main__":
    # Run the imported module, not this __main__ copy, so that the
    # CommandError raised by command modules (xmppd.offline.ctl) is the one
    # main() catches.
    from xmppd.ctl import main as _main
    _main()
