-- PostgreSQL twin of ../0008_consent_notice.sql.
ALTER TABLE consents ADD COLUMN notice_version TEXT;
CREATE INDEX consents_reporter ON consents (reporter_id, id);
