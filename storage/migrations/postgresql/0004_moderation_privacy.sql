-- PostgreSQL twin of ../0004_moderation_privacy.sql.
ALTER TABLE cases ADD COLUMN identity_erased_at TEXT;
ALTER TABLE reporters ADD COLUMN erased_at TEXT;
CREATE INDEX cases_created ON cases (created_at);
CREATE INDEX case_posts_chat ON case_posts (chat_id, case_id);
