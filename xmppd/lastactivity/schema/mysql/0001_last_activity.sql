-- XEP-0012: when an account's last resource went offline, in Unix seconds,
-- and the status text of its last unavailable presence.
CREATE TABLE last_activity (
    jid VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    logout_at BIGINT NOT NULL,
    status TEXT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
