-- Roster items (RFC 6121 §2): the owner's view of one contact. Groups are
-- a JSON array: they are only ever read and written with their item.
-- pending_out is RFC 6121's ask="subscribe"; approved is a pre-approval
-- (§3.4) of a subscription request the contact has not sent yet.
CREATE TABLE roster_items (
    owner TEXT NOT NULL,
    contact TEXT NOT NULL,
    name TEXT,
    groups_json TEXT NOT NULL DEFAULT '[]',
    subscription TEXT NOT NULL DEFAULT 'none',
    pending_out INTEGER NOT NULL DEFAULT 0,
    approved INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (owner, contact)
);
-- Answers "whose rosters let this JID see their presence" (probes).
CREATE INDEX roster_items_contact ON roster_items (contact);

-- Inbound subscription requests not yet answered (pending-in, §3.1.3),
-- with the stanza as received so that it is delivered again, status and
-- all, whenever the owner next becomes available.
CREATE TABLE roster_pending (
    owner TEXT NOT NULL,
    contact TEXT NOT NULL,
    xml TEXT NOT NULL,
    PRIMARY KEY (owner, contact)
);

-- XEP-0237 roster version: bumped with every change of the owner's items.
CREATE TABLE roster_versions (
    owner TEXT NOT NULL PRIMARY KEY,
    version BIGINT NOT NULL DEFAULT 0
);
