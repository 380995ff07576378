-- Accounts keep SCRAM keys for both hashes and never the password.
CREATE TABLE users (
    jid TEXT NOT NULL PRIMARY KEY,
    sha1_salt BLOB NOT NULL,
    sha1_iterations INTEGER NOT NULL,
    sha1_stored_key BLOB NOT NULL,
    sha1_server_key BLOB NOT NULL,
    sha256_salt BLOB NOT NULL,
    sha256_iterations INTEGER NOT NULL,
    sha256_stored_key BLOB NOT NULL,
    sha256_server_key BLOB NOT NULL,
    created_at BIGINT NOT NULL
);

-- Per-user key/value pairs (Tigase's tig_pairs); "key" is reserved in MySQL.
CREATE TABLE settings (
    jid TEXT NOT NULL,
    node TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (jid, node, name)
);
