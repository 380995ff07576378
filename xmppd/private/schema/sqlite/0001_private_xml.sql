-- XEP-0049 private XML storage: one element per (account, namespace), as
-- the client sent it (legacy bookmarks live here as storage:bookmarks).
CREATE TABLE private_xml (
    owner TEXT NOT NULL,
    namespace TEXT NOT NULL,
    xml TEXT NOT NULL,
    PRIMARY KEY (owner, namespace)
);
