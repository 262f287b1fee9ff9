-- Replies that may be replaced by a later one while still waiting (the answer to each
-- photo of an album: only the last is sent).
ALTER TABLE outbox ADD COLUMN coalesce_key TEXT;
CREATE INDEX outbox_coalesce ON outbox (channel, address, coalesce_key) WHERE coalesce_key IS NOT NULL;
