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

-- AUTOINCREMENT: an id is never handed out twice, so deleting the ids a
-- session was sent can never hit a message stored after them.
CREATE TABLE offline_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient TEXT NOT NULL,
    sender TEXT NOT NULL,
    stored_at BIGINT NOT NULL,
    expires_at BIGINT,
    xml TEXT NOT NULL
);
CREATE INDEX offline_messages_recipient_id ON offline_messages (recipient, id);
CREATE INDEX offline_messages_recipient_sender ON offline_messages (recipient, sender);
CREATE INDEX offline_messages_expires_at ON offline_messages (expires_at);
CREATE INDEX offline_messages_stored_at ON offline_messages (stored_at);

-- One row per recipient that MySQL locks while it counts a queue; SQLite
-- has its single writer instead, but keeps the table so that both schemas
-- hold the same tables.
CREATE TABLE offline_locks (
    recipient TEXT NOT NULL PRIMARY KEY
);
