-- PostgreSQL twin of ../0012_message_digests.sql.
CREATE TABLE installation_keys (
    name TEXT PRIMARY KEY,
    key BYTEA NOT NULL,
    created_at TEXT NOT NULL
);
ALTER TABLE processed_updates ADD COLUMN digest BYTEA;
CREATE TABLE message_digests (
    digest BYTEA PRIMARY KEY,
    day INTEGER NOT NULL
);
CREATE INDEX message_digests_day ON message_digests (day);
