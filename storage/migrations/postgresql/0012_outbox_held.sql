-- PostgreSQL twin of ../0012_outbox_held.sql.
ALTER TABLE outbox ADD COLUMN held_for TEXT;
ALTER TABLE outbox ADD COLUMN ready_since TEXT;
