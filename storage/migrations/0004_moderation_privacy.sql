-- Moderation and data rights: when a case's reporter identity was removed (on request or
-- at the end of the retention period), and when a reporter record was erased.

ALTER TABLE cases ADD COLUMN identity_erased_at TEXT;
ALTER TABLE reporters ADD COLUMN erased_at TEXT;
CREATE INDEX cases_created ON cases (created_at);
CREATE INDEX case_posts_chat ON case_posts (chat_id, case_id);
