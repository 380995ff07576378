-- Roster items (RFC 6121 §2): the owner's view of one contact. Groups are
-- a JSON array: they are only ever read and written with their item.
-- pending_out is RFC 6121's ask="subscribe"; approved is a pre-approval
-- (§3.4) of a subscription request the contact has not sent yet.
CREATE TABLE roster_items (
    owner VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    contact VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    name TEXT NULL,
    groups_json MEDIUMTEXT NOT NULL,
    subscription VARCHAR(4) NOT NULL DEFAULT 'none',
    pending_out TINYINT NOT NULL DEFAULT 0,
    approved TINYINT NOT NULL DEFAULT 0,
    PRIMARY KEY (owner, contact),
    KEY roster_items_contact (contact)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin ROW_FORMAT=DYNAMIC;

-- Inbound subscription requests not yet answered (pending-in, §3.1.3),
-- with the stanza as received so that it is delivered again, status and
-- all, whenever the owner next becomes available.
CREATE TABLE roster_pending (
    owner VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    contact VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    xml MEDIUMTEXT NOT NULL,
    PRIMARY KEY (owner, contact)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin ROW_FORMAT=DYNAMIC;

-- XEP-0237 roster version: bumped with every change of the owner's items.
-- The row is also what a change locks, so that two changes of one roster
-- never interleave.
CREATE TABLE roster_versions (
    owner VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    version BIGINT NOT NULL DEFAULT 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
