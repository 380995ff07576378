-- One row per (recipient, sender): how many messages the sender left in
-- the recipient's offline queue since the recipient's digest was last
-- taken, and when the last of them was stored (µs since the epoch).
CREATE TABLE digest_senders (
    recipient TEXT NOT NULL,
    sender TEXT NOT NULL,
    messages INTEGER NOT NULL,
    last_stored BIGINT NOT NULL,
    PRIMARY KEY (recipient, sender)
);
