-- Message archives (XEP-0313), one row per archived stanza and owner.
-- stanza_id is the XEP-0359 id handed to clients; (stamp, id) orders an
-- archive (stamp in µs, id breaking ties), so that every query is a range
-- of one of the indexes below and a page costs the same at any depth.
-- Two 320-character JIDs and two BIGINTs stay within InnoDB's 3072 bytes.
CREATE TABLE mam_messages (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    owner VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    stanza_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    stamp BIGINT NOT NULL,
    with_bare VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    with_resource VARCHAR(1023) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    xml MEDIUMTEXT NOT NULL,
    UNIQUE KEY mam_messages_owner_stanza_id (owner, stanza_id),
    KEY mam_messages_owner_stamp (owner, stamp, id),
    KEY mam_messages_owner_with (owner, with_bare, stamp, id),
    KEY mam_messages_stamp (stamp)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin ROW_FORMAT=DYNAMIC;

-- Archiving preferences (XEP-0313 §6): the default, then the JIDs always
-- or never archived; jid_hash (SHA-256) keeps the key within the index width.
CREATE TABLE mam_prefs (
    owner VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    default_mode VARCHAR(16) CHARACTER SET ascii NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin ROW_FORMAT=DYNAMIC;
CREATE TABLE mam_prefs_jids (
    owner VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    jid_hash CHAR(64) CHARACTER SET ascii NOT NULL,
    jid TEXT NOT NULL,
    list VARCHAR(16) CHARACTER SET ascii NOT NULL,
    PRIMARY KEY (owner, jid_hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin ROW_FORMAT=DYNAMIC;
