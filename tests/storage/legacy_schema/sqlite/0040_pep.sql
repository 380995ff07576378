-- Personal Eventing Protocol (XEP-0163): every account is a pubsub service.
-- One row per account that has ever published: the row each change of the
-- account's nodes locks, so that the node count and an auto-create, or two
-- publishes to one node, never interleave.
CREATE TABLE pep_services (
    owner TEXT NOT NULL PRIMARY KEY
);

-- A node and its configuration (access model, persistence, max items, ...)
-- as JSON: it is only ever read and written whole, by the pep module.
CREATE TABLE pep_nodes (
    owner TEXT NOT NULL,
    node TEXT NOT NULL,
    config_json TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (owner, node)
);

-- Published items; seq orders them (a republished id becomes the newest).
CREATE TABLE pep_items (
    owner TEXT NOT NULL,
    node TEXT NOT NULL,
    item_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    publisher TEXT NOT NULL,
    payload TEXT NOT NULL,
    published_at BIGINT NOT NULL,
    PRIMARY KEY (owner, node, item_id)
);
CREATE INDEX pep_items_seq ON pep_items (owner, node, seq);

-- Owner-set affiliations (XEP-0060 §8.9): "member" is on the whitelist.
CREATE TABLE pep_affiliations (
    owner TEXT NOT NULL,
    node TEXT NOT NULL,
    jid TEXT NOT NULL,
    affiliation TEXT NOT NULL,
    PRIMARY KEY (owner, node, jid)
);

-- Explicit subscriptions (XEP-0060 §6.1), beside PEP's implicit ones.
CREATE TABLE pep_subscriptions (
    owner TEXT NOT NULL,
    node TEXT NOT NULL,
    jid TEXT NOT NULL,
    PRIMARY KEY (owner, node, jid)
);
