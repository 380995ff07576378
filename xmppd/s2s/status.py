"""
The s2s status file: what ``xmppctl s2s`` shows.

xmppctl has no channel to the running server; every other command works
on the database. The open s2s streams live only in the server process, so
the service writes them to ``s2s-status.json`` in the data directory
whenever one is authenticated or closed, and removes the file when it
stops. A file needs no new listening socket to secure (its permissions are
the data directory's), answers even while the server is busy, and tells
the operator, by its process id, whether the server that wrote it is still
running.
"""

import json
import os
import time

FILENAME = "s2s-status.json"


class StatusFile:
    def __init__(self, dataDir):
        self.path = os.path.join(dataDir, FILENAME)

    def write(self, connections):
        data = {"pid": os.getpid(), "written": time.time(), "connections": connections}
        temporary = "%s.%d.tmp" % (self.path, os.getpid())
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            with open(temporary, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1, sort_keys=True)
            os.replace(temporary, self.path)
        except OSError:
            from twisted.python import log
            log.err(None, "s2s: cannot write %s" % self.path)

    def remove(self):
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def readStatus(dataDir):
    """The status the running server wrote, or None if no server is running."""
    path = os.path.join(dataDir, FILENAME)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return None
    try:
        os.kill(int(data["pid"]), 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return data
