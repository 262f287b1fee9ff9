-- PostgreSQL twin of ../0012_outbox_held.sql.
ALTER TABLE outbox ADD COLUMN held_for TEXT;
ALTER TABLE outbox ADD COLUMN ready_since TEXT;
-- What readiness reads (every few seconds, on every worker): the pending rows only, with
-- what it needs, so a large backlog costs an index range, not the table.
CREATE INDEX outbox_pending_held ON outbox (held_for, created_at, ready_since) WHERE status = 'pending';
