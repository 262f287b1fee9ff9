-- Values that can name a reporter are sealed at rest (storage/sealing.py): a copy of the
-- file, its -wal, a backup or a dump names nobody without the data key. This migration
-- adds what sealing needs; the values themselves are sealed in place by Python right after
-- it, in the same transaction (storage/at_rest.py, `seal_in_place`), and the file is then
-- rewritten with VACUUM so no page keeps the plain text.
--
-- The keys the values are sealed with, each wrapped by the data key (DATA_KEY or the key
-- file, never in the database): `id` is what a sealed value carries, `kek` the id of the
-- data key that wraps it (a rotation wraps them under the new one too, for a while).
CREATE TABLE keyring (
    id         TEXT NOT NULL,
    kek        TEXT NOT NULL,
    purpose    TEXT NOT NULL CHECK (purpose IN ('values', 'lookup', 'digest')),
    wrapped    BLOB NOT NULL,
    active     INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    PRIMARY KEY (id, kek)
);
-- An address column now holds the address's keyed hash (HMAC-SHA-256: found, joined and
-- kept unique as before), and where a message must reach it, its sealed value beside it.
-- SQLite keeps the columns' declared types; the values are BLOBs.
ALTER TABLE reporters ADD COLUMN address_sealed BLOB;
ALTER TABLE outbox ADD COLUMN address_sealed BLOB;
ALTER TABLE inbound_queue ADD COLUMN address_sealed BLOB;
-- A conversation's saved answers are sealed whole; the files its draft holds are listed
-- apart (a JSON list of {"sha256": ...}), so the evidence sweep still sees what a draft keeps.
ALTER TABLE conversations ADD COLUMN files TEXT;
UPDATE conversations SET files = (
    SELECT json_group_array(json_object('sha256', json_extract(e.value, '$.sha256')))
    FROM json_each(conversations.data, '$.draft.evidence') AS e
    WHERE json_extract(e.value, '$.sha256') IS NOT NULL)
WHERE json_valid(data);
