#!/usr/bin/env bash
# Install xmppd into ./.venv and run it in the foreground with the embedded
# defaults (host "localhost", SQLite under ./xmppd-data, a self-signed
# certificate generated on first start, c2s on port 5222).
# Extra arguments go to the xmppd plugin, e.g. --config etc/xmppd.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get install -y python3-venv >/dev/null || { apt-get update && apt-get install -y python3-venv; }
    else
        echo "run.sh: python3-venv is missing: sudo apt-get install python3-venv" >&2; exit 1
    fi
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet .
exec .venv/bin/twistd --nodaemon --pidfile= xmppd "$@"
