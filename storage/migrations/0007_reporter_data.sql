-- Reporter data from start to end: which copy of an evidence file the store keeps (after an
-- erasure only a cleaned copy, or none), and indexes for the retention clean-up.

-- NULL: the file as received; 'cleaned': a copy without metadata replaced it; 'removed': it
-- could not be cleaned, so nothing of it is kept (its SHA-256 stays on record).
ALTER TABLE evidence ADD COLUMN stored_as TEXT CHECK (stored_as IN ('cleaned', 'removed'));
CREATE INDEX evidence_stored ON evidence (case_id, stored_as);
CREATE INDEX outbox_done ON outbox (status, done_at);
-- processed_at is compared as text from now on: all in UTC.
UPDATE processed_updates SET processed_at = coalesce(strftime('%Y-%m-%dT%H:%M:%S+00:00', processed_at), processed_at);
CREATE INDEX processed_updates_at ON processed_updates (processed_at);
