-- PostgreSQL twin of ../0011_links_after_submission.sql.
ALTER TABLE cases ADD COLUMN linked_at TEXT;
UPDATE cases SET linked_at = created_at;
CREATE INDEX cases_to_link ON cases (id) WHERE linked_at IS NULL;
