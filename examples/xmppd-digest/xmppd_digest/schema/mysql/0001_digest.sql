-- One row per (recipient, sender): how many messages the sender left in
-- the recipient's offline queue since the recipient's digest was last
-- taken, and when the last of them was stored (µs since the epoch).
-- Binary collation: JIDs compare as the server compares them.
CREATE TABLE digest_senders (
    recipient VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    sender VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    messages INTEGER NOT NULL,
    last_stored BIGINT NOT NULL,
    PRIMARY KEY (recipient, sender)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin ROW_FORMAT=DYNAMIC;
