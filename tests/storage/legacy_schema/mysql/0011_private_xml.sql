-- XEP-0049 private XML storage: one element per (account, namespace), as
-- the client sent it (legacy bookmarks live here as storage:bookmarks).
CREATE TABLE private_xml (
    owner VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    namespace VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    xml MEDIUMTEXT NOT NULL,
    PRIMARY KEY (owner, namespace)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin ROW_FORMAT=DYNAMIC;
