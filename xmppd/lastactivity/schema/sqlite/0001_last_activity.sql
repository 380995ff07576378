-- XEP-0012: when an account's last resource went offline, in Unix seconds,
-- and the status text of its last unavailable presence.
CREATE TABLE last_activity (
    jid TEXT NOT NULL PRIMARY KEY,
    logout_at BIGINT NOT NULL,
    status TEXT NOT NULL DEFAULT ''
);
