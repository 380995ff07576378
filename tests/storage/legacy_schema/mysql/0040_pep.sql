-- Personal Eventing Protocol (XEP-0163): every account is a pubsub service.
-- One row per account that has ever published: the row each change of the
-- account's nodes locks, so that the node count and an auto-create, or two
-- publishes to one node, never interleave. Node names are at most 120
-- characters and item ids at most 190, which keeps the three-part keys
-- within InnoDB's 3072 bytes.
CREATE TABLE pep_services (
    owner VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin ROW_FORMAT=DYNAMIC;

-- A node and its configuration (access model, persistence, max items, ...)
-- as JSON: it is only ever read and written whole, by the pep module.
CREATE TABLE pep_nodes (
    owner VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    node VARCHAR(120) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    config_json TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (owner, node)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin ROW_FORMAT=DYNAMIC;

-- Published items; seq orders them (a republished id becomes the newest).
CREATE TABLE pep_items (
    owner VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    node VARCHAR(120) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    item_id VARCHAR(190) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    seq BIGINT NOT NULL,
    publisher VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    payload MEDIUMTEXT NOT NULL,
    published_at BIGINT NOT NULL,
    PRIMARY KEY (owner, node, item_id),
    KEY pep_items_seq (owner, node, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin ROW_FORMAT=DYNAMIC;

-- Owner-set affiliations (XEP-0060 §8.9): "member" is on the whitelist.
CREATE TABLE pep_affiliations (
    owner VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    node VARCHAR(120) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    jid VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    affiliation VARCHAR(16) NOT NULL,
    PRIMARY KEY (owner, node, jid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin ROW_FORMAT=DYNAMIC;

-- Explicit subscriptions (XEP-0060 §6.1), beside PEP's implicit ones.
CREATE TABLE pep_subscriptions (
    owner VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    node VARCHAR(120) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    jid VARCHAR(320) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    PRIMARY KEY (owner, node, jid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin ROW_FORMAT=DYNAMIC;
