#!/usr/bin/env bash
# The one command to test xmppd on a fresh Debian 12 machine: it installs what
# is missing (a .venv with the package and its test extras; MariaDB and the
# real client programs of tests/clients when run as root; xmpp.js from npm)
# and runs pytest with any arguments given, e.g. `scripts/test.sh -x`.
# The tests start their own throwaway MariaDB; exit status is pytest's.
set -euo pipefail
cd "$(dirname "$0")/.."

isRoot() { [ "$(id -u)" -eq 0 ]; }
aptInstall() {
    # Refresh the package lists only when installing without them fails.
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "$@" \
        || { apt-get update && apt-get install -y --no-install-recommends "$@"; }
}

# Without python3-venv, `python3 -m venv` leaves a .venv with no pip in it.
if [ ! -x .venv/bin/pip ]; then
    if ! python3 -m venv --clear .venv; then
        isRoot || { echo "test.sh: run: sudo apt-get install python3-venv" >&2; exit 1; }
        aptInstall python3-venv
        python3 -m venv --clear .venv
    fi
    echo '*' > .venv/.gitignore
fi
# mysqlclient, the default MySQL driver, compiles against the C client
# library; without it the MySQL tests run on PyMySQL, the fallback.
extras=test
if ! pkg-config --exists libmariadb 2>/dev/null && ! pkg-config --exists mysqlclient 2>/dev/null; then
    if isRoot; then
        aptInstall libmariadb-dev pkg-config build-essential
    else
        echo "test.sh: the MySQL C client library is missing (apt-get install" \
             "libmariadb-dev pkg-config build-essential); the MySQL tests will run on PyMySQL" >&2
    fi
fi
if pkg-config --exists libmariadb 2>/dev/null || pkg-config --exists mysqlclient 2>/dev/null; then
    extras=test,mysql
fi
# The ordinary editable install: pyproject's package-dir makes it a path
# entry, so twistd finds twisted/plugins in the checkout.
.venv/bin/python -m pip install --quiet -e ".[$extras]"
# The example third-party modules, each installed as its own distribution,
# as a module author's users would (their tests run against a real server).
.venv/bin/python -m pip install --quiet --no-deps --force-reinstall \
    ./examples/xmppd-motd ./examples/xmppd-digest

if ! PATH="$PATH:/usr/sbin:/usr/local/sbin" command -v mariadbd >/dev/null; then
    if isRoot; then
        aptInstall mariadb-server
    else
        echo "test.sh: mariadbd is missing (apt-get install mariadb-server);" \
             "the MySQL tests will be skipped, or fail under CI=true" >&2
    fi
fi
# The cluster tests (tests/cluster) start a throwaway redis-server of their
# own on a free port; the system's service, if the package starts one, is
# stopped and disabled again (nothing here may listen on 6379).
if ! command -v redis-server >/dev/null; then
    if isRoot; then
        aptInstall redis-server
        if command -v systemctl >/dev/null && systemctl disable --now redis-server 2>/dev/null; then
            :
        elif command -v service >/dev/null; then
            service redis-server stop >/dev/null 2>&1 || true
        fi
    else
        echo "test.sh: redis-server is missing (apt-get install redis-server);" \
             "the cluster tests will be skipped, or fail under CI=true" >&2
    fi
fi
# Federation tests (tests/s2s) run Debian's ejabberd as the remote server.
if [ ! -x /usr/sbin/ejabberdctl ]; then
    if isRoot; then
        aptInstall ejabberd
    else
        echo "test.sh: ejabberd is missing (apt-get install ejabberd);" \
             "the ejabberd federation tests will be skipped, or fail under CI=true" >&2
    fi
fi

# Real client programs for tests/clients; under CI=true a missing one fails them.
clientPackages=()
command -v go-sendxmpp >/dev/null || clientPackages+=(go-sendxmpp)
command -v profanity >/dev/null || clientPackages+=(profanity)
command -v tmux >/dev/null || clientPackages+=(tmux)
/usr/bin/python3 -c 'import nbxmpp' 2>/dev/null || clientPackages+=(python3-nbxmpp)
if [ "${#clientPackages[@]}" -gt 0 ]; then
    if isRoot; then
        aptInstall "${clientPackages[@]}"
    else
        echo "test.sh: missing client programs (apt-get install ${clientPackages[*]});" \
             "their tests will be skipped, or fail under CI=true" >&2
    fi
fi
# xmpp.js, pinned by its lockfile, in the test directory that uses it.
nodeDir=tests/clients/node
if command -v npm >/dev/null; then
    if [ ! "$nodeDir/node_modules/.package-lock.json" -nt "$nodeDir/package-lock.json" ]; then
        (cd "$nodeDir" && npm ci --no-audit --no-fund --loglevel=error)
    fi
else
    echo "test.sh: npm is missing; the xmpp.js tests will be skipped, or fail under CI=true" >&2
fi

status=0
.venv/bin/python -m pytest "$@" || status=$?
# 5 means pytest collected nothing: a wrong path or filter, never a pass.
[ "$status" -ne 5 ] || echo "test.sh: pytest collected no tests" >&2
# The whole suite ran on the default MySQL driver; the storage tests run
# once more on the fallback, so that a machine without mysqlclient works too.
if [ "$#" -eq 0 ] && [ "$status" -eq 0 ] && .venv/bin/python -c 'import MySQLdb' 2>/dev/null; then
    XMPPD_TEST_MYSQL_DRIVER=pymysql .venv/bin/python -m pytest tests/storage -k mysql || status=$?
fi
exit "$status"
