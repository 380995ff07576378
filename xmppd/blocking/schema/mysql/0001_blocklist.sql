-- Blocked JIDs (XEP-0191), one row per (owner, item); item is the JID as
-- blocked (domain, bare, full or domain/resource), item_hash its SHA-256 so
-- that the key stays within InnoDB's index width for a JID of any length.
CREATE TABLE blocklist (
    owner VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    item_hash CHAR(64) CHARACTER SET ascii NOT NULL,
    item TEXT NOT NULL,
    PRIMARY KEY (owner, item_hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin ROW_FORMAT=DYNAMIC;
