-- The offline message queue (XEP-0160): one row per stored stanza.
-- JIDs are utf8mb4_bin, as in the core tables (see xmppd/storage/schema).

CREATE TABLE offline_messages (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    recipient VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    sender VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    stored_at BIGINT NOT NULL,
    expires_at BIGINT NULL,
    xml MEDIUMTEXT NOT NULL,
    KEY offline_messages_recipient_id (recipient, id),
    KEY offline_messages_recipient_sender (recipient, sender),
    KEY offline_messages_expires_at (expires_at),
    KEY offline_messages_stored_at (stored_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin ROW_FORMAT=DYNAMIC;

-- The row a store locks (SELECT ... FOR UPDATE style) so that counting a
-- recipient's queue and inserting into it are one atomic step.
CREATE TABLE offline_locks (
    recipient VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
