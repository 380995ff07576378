-- The offline message queue (XEP-0160): one row per stored stanza.
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
