-- The offline queue kept with the archive ([modules.mam] offline_in_archive):
-- one row per waiting message, in arrival (id) order, as the offline
-- module's queue. A message that is archived refers to its archive row
-- (archive_id) and keeps no copy (xml NULL): it is handed out as the
-- archived stanza plus the XEP-0203 delay of stored_at. A message that is
-- not archived (no-permanent-store, preferences) keeps its copy in xml.
-- size is the bytes of the copy handed out, for the per-user byte limit.
CREATE TABLE mam_offline (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    recipient VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    sender VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    stored_at BIGINT NOT NULL,
    expires_at BIGINT NULL,
    size INT UNSIGNED NOT NULL,
    archive_id BIGINT NULL,
    xml MEDIUMTEXT NULL,
    KEY mam_offline_recipient_id (recipient, id),
    KEY mam_offline_recipient_sender (recipient, sender),
    KEY mam_offline_expires_at (expires_at),
    KEY mam_offline_stored_at (stored_at),
    KEY mam_offline_archive_id (archive_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin ROW_FORMAT=DYNAMIC;

-- The row a store locks so that counting a recipient's queue and inserting
-- into it are one atomic step.
CREATE TABLE mam_offline_locks (
    recipient VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
