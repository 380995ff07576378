-- JIDs are utf8mb4_bin: they arrive stringprep-normalised, so a byte-exact
-- comparison is the right one and no collation folds two accounts into
-- one. 320 characters keep the two-JID index within InnoDB's 3072 bytes.

-- Accounts keep SCRAM keys for both hashes and never the password.
CREATE TABLE users (
    jid VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
    sha1_salt VARBINARY(64) NOT NULL,
    sha1_iterations INT NOT NULL,
    sha1_stored_key VARBINARY(64) NOT NULL,
    sha1_server_key VARBINARY(64) NOT NULL,
    sha256_salt VARBINARY(64) NOT NULL,
    sha256_iterations INT NOT NULL,
    sha256_stored_key VARBINARY(64) NOT NULL,
    sha256_server_key VARBINARY(64) NOT NULL,
    created_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin ROW_FORMAT=DYNAMIC;

-- Per-user key/value pairs (Tigase's tig_pairs); "key" is reserved here.
CREATE TABLE settings (
    jid VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    node VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    name VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (jid, node, name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin ROW_FORMAT=DYNAMIC;
