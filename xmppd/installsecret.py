"""
The per-install secret, and the data directory it lives in.

SCRAM must answer an unknown user with a salt (RFC 5802 gives the server no
other way to refuse without saying "no such account"), and that salt must
look like a real one: random to anyone outside, stable across probes, and
different for each hash, as a real account's are. It is an HMAC of the
user name under a secret made once per install; a constant key would let
anyone compute the fake salts and so tell which accounts exist.

The data directory holds this secret, the SQLite database (SCRAM keys) and
the generated TLS key, so it is created 0700 and the files in it 0600.
"""

import os

SECRET_FILE = "install-secret"
SECRET_SIZE = 32


def ensureDataDirectory(path):
    """Create the data directory, readable by the server's user only."""
    os.makedirs(path, mode=0o700, exist_ok=True)


def createPrivateFile(path, data):
    """Write a new file that only the server's user can read (0600 from the start)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def loadInstallSecret(dataDir):
    """This install's secret, made on first start."""
    ensureDataDirectory(dataDir)
    path = os.path.join(dataDir, SECRET_FILE)
    try:
        with open(path, "rb") as f:
            secret = f.read()
        if len(secret) >= SECRET_SIZE:
            return secret
        os.unlink(path)
    except FileNotFoundError:
        pass
    secret = os.urandom(SECRET_SIZE)
    try:
        createPrivateFile(path, secret)
    except FileExistsError:
        # Another process of this install made it first: use theirs.
        return loadInstallSecret(dataDir)
    return secret
