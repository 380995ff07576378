-- Blocked JIDs (XEP-0191), one row per (owner, item); item is the JID as
-- blocked (domain, bare, full or domain/resource), item_hash its SHA-256 so
-- that the key has the same short width on every backend.
CREATE TABLE blocklist (
    owner TEXT NOT NULL,
    item_hash TEXT NOT NULL,
    item TEXT NOT NULL,
    PRIMARY KEY (owner, item_hash)
);
