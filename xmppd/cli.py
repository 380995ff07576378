"""
The ``xmppd`` command: run the server or check a config without knowing
twistd.

    xmppd run [--config FILE] [twistd options...]   the server, in the foreground
    xmppd check [--config FILE]                     validate FILE; one line, exit 0 or 1

``run`` is ``twistd --nodaemon --pidfile= xmppd --config FILE``: the same
service tree, logging and signal handling as under twistd or systemd.
"""

import argparse
import sys


def check(configPath):
    from xmppd.config import ConfigError
    from xmppd.tap import availableModules, loadConfig, moduleSchemas
    try:
        config = loadConfig(configPath, moduleSchemas(availableModules()))
    except ConfigError as e:
        sys.stderr.write("xmppd: %s\n" % (e,))
        return 1
    print("xmppd: %s is valid: hosts %s, modules %s" % (
        configPath or "the embedded defaults", ", ".join(config.hosts),
        ", ".join(config.enabledModules())))
    return 0


def run(configPath, twistdArgs):
    from twisted.scripts.twistd import run as twistd
    argv = ["twistd", "--nodaemon", "--pidfile="] + list(twistdArgs) + ["xmppd"]
    if configPath:
        argv += ["--config", configPath]
    sys.argv = argv
    twistd()
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="xmppd", description="An XMPP server.")
    commands = parser.add_subparsers(dest="command", required=True)
    runner = commands.add_parser("run", help="run the server in the foreground")
    runner.add_argument("--config", "-c", help="TOML config file (default: embedded defaults)")
    checker = commands.add_parser("check", help="validate a config file and exit")
    checker.add_argument("--config", "-c", help="TOML config file (default: embedded defaults)")
    args, rest = parser.parse_known_args(argv)
    if args.command == "check":
        if rest:
            parser.error("unrecognised arguments: %s" % " ".join(rest))
        return check(args.config)
    return run(args.config, rest)


if __name__ == "__main__":
    sys.exit(main())
