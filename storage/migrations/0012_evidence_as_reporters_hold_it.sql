-- Evidence as reporters hold it (issue 27): besides photos, videos and documents, recordings
-- ('audio': voice notes and audio files), links to posts ('link') and forwarded messages
-- ('message'). SQLite changes a CHECK only by rebuilding the table.
--   url        a link, cleaned of tracking and share parameters; or, when `held` is 1, a share
--              link that could not be resolved: kept for moderators only, never forwarded
--   text       a forwarded message's text (or caption), its links cleaned
--   origin     where it was forwarded from, as the channel gives it (never the reporter's own account)
--   origin_at  when it was first sent
CREATE TABLE evidence_new (
    id                 INTEGER PRIMARY KEY,
    case_id            INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
    position           INTEGER NOT NULL,
    kind               TEXT NOT NULL CHECK (kind IN ('photo', 'video', 'document', 'audio', 'link', 'message')),
    channel_ref        TEXT NOT NULL,
    channel_unique_ref TEXT,
    mime               TEXT,
    size               INTEGER,
    sha256             TEXT,
    file_name          TEXT,
    created_at         TEXT NOT NULL,
    stored_as          TEXT CHECK (stored_as IN ('cleaned', 'removed')),
    url                TEXT,
    held               INTEGER NOT NULL DEFAULT 0,
    text               TEXT,
    origin             TEXT,
    origin_at          TEXT,
    UNIQUE (case_id, position)
);
INSERT INTO evidence_new (id, case_id, position, kind, channel_ref, channel_unique_ref, mime, size, sha256,
                          file_name, created_at, stored_as)
    SELECT id, case_id, position, kind, channel_ref, channel_unique_ref, mime, size, sha256, file_name,
           created_at, stored_as FROM evidence;
DROP TABLE evidence;
ALTER TABLE evidence_new RENAME TO evidence;
CREATE INDEX evidence_sha256 ON evidence (sha256, case_id);
CREATE INDEX evidence_stored ON evidence (case_id, stored_as);

-- A recording's or a video's length in seconds, read from its cleaned copy.
ALTER TABLE cleaned_files ADD COLUMN duration REAL;
