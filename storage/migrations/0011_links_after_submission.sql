-- Related reports are linked after the submission commits, by the delivery worker, so that
-- a reporter's step never waits for the search. `linked_at` says a case has been through
-- it; the cases already stored were linked at their submission.
ALTER TABLE cases ADD COLUMN linked_at TEXT;
UPDATE cases SET linked_at = created_at;
CREATE INDEX cases_to_link ON cases (id) WHERE linked_at IS NULL;
