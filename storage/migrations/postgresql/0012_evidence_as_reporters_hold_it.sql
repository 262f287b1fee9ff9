-- Evidence as reporters hold it (issue 27): recordings, links and forwarded messages; see the
-- SQLite twin for what each column holds.
ALTER TABLE evidence DROP CONSTRAINT evidence_kind_check;
ALTER TABLE evidence ADD CONSTRAINT evidence_kind_check
    CHECK (kind IN ('photo', 'video', 'document', 'audio', 'link', 'message'));
ALTER TABLE evidence ADD COLUMN url TEXT;
ALTER TABLE evidence ADD COLUMN held BIGINT NOT NULL DEFAULT 0;
ALTER TABLE evidence ADD COLUMN text TEXT;
ALTER TABLE evidence ADD COLUMN origin TEXT;
ALTER TABLE evidence ADD COLUMN origin_at TEXT;

ALTER TABLE cleaned_files ADD COLUMN duration DOUBLE PRECISION;
