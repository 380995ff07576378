-- The offline queue kept with the archive ([modules.mam] offline_in_archive):
-- one row per waiting message, in arrival (id) order, as the offline
-- module's queue. A message that is archived refers to its archive row
-- (archive_id) and keeps no copy (xml NULL): it is handed out as the
-- archived stanza plus the XEP-0203 delay of stored_at. A message that is
-- not archived (no-permanent-store, preferences) keeps its copy in xml.
-- size is the bytes of the copy handed out, for the per-user byte limit.
-- AUTOINCREMENT: an id is never handed out twice (see offline_messages).
CREATE TABLE mam_offline (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient TEXT NOT NULL,
    sender TEXT NOT NULL,
    stored_at BIGINT NOT NULL,
    expires_at BIGINT,
    size INTEGER NOT NULL,
    archive_id BIGINT,
    xml TEXT
);
CREATE INDEX mam_offline_recipient_id ON mam_offline (recipient, id);
CREATE INDEX mam_offline_recipient_sender ON mam_offline (recipient, sender);
CREATE INDEX mam_offline_expires_at ON mam_offline (expires_at);
CREATE INDEX mam_offline_stored_at ON mam_offline (stored_at);
CREATE INDEX mam_offline_archive_id ON mam_offline (archive_id);

-- The row a store locks while it counts a recipient's queue (MySQL; SQLite
-- has its single writer, and keeps the table so that both schemas match).
CREATE TABLE mam_offline_locks (
    recipient TEXT NOT NULL PRIMARY KEY
);
