-- A message is processed once, ever: a keyed hash (HMAC-SHA-256, its first 16 bytes) of
-- every processed message's channel, chat and id. It is written with the processed-update
-- row (appended, as the rows are) and, when the row is pruned after 7 days, moved into
-- message_digests, kept for 400 days. Twilio's signature has no timestamp, so a request
-- captured once could otherwise be replayed for a fresh answer once its row was pruned.
-- The hash names nobody without the key; the key is the installation's own
-- (`storage/keys.py`), created once.
CREATE TABLE installation_keys (
    name TEXT PRIMARY KEY,
    key BLOB NOT NULL,
    created_at TEXT NOT NULL
);
ALTER TABLE processed_updates ADD COLUMN digest BLOB;
CREATE TABLE message_digests (
    digest BLOB PRIMARY KEY,
    day INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX message_digests_day ON message_digests (day);
