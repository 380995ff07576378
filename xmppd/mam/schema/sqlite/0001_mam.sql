-- Message archives (XEP-0313), one row per archived stanza and owner.
-- stanza_id is the XEP-0359 id handed to clients; (stamp, id) orders an
-- archive (stamp in µs, id breaking ties), so that every query is a range
-- of one of the indexes below and a page costs the same at any depth.
CREATE TABLE mam_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner TEXT NOT NULL,
    stanza_id TEXT NOT NULL,
    stamp BIGINT NOT NULL,
    with_bare TEXT NOT NULL,
    with_resource TEXT NOT NULL,
    xml TEXT NOT NULL
);
CREATE UNIQUE INDEX mam_messages_owner_stanza_id ON mam_messages (owner, stanza_id);
CREATE INDEX mam_messages_owner_stamp ON mam_messages (owner, stamp, id);
CREATE INDEX mam_messages_owner_with ON mam_messages (owner, with_bare, stamp, id);
CREATE INDEX mam_messages_stamp ON mam_messages (stamp);

-- Archiving preferences (XEP-0313 §6): the default, then the JIDs always
-- or never archived; jid_hash (SHA-256) keeps the key short on MySQL.
CREATE TABLE mam_prefs (
    owner TEXT NOT NULL PRIMARY KEY,
    default_mode TEXT NOT NULL
);
CREATE TABLE mam_prefs_jids (
    owner TEXT NOT NULL,
    jid_hash TEXT NOT NULL,
    jid TEXT NOT NULL,
    list TEXT NOT NULL,
    PRIMARY KEY (owner, jid_hash)
);
