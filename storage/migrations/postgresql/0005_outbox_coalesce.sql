-- PostgreSQL twin of ../0005_outbox_coalesce.sql.
ALTER TABLE outbox ADD COLUMN coalesce_key TEXT;
CREATE INDEX outbox_coalesce ON outbox (channel, address, coalesce_key) WHERE coalesce_key IS NOT NULL;
