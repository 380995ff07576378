CREATE TABLE test_notes (
    owner TEXT NOT NULL,
    text TEXT NOT NULL
);
