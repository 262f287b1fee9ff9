-- Deliveries that wait for something outside the service (WhatsApp's 24-hour window: the
-- person must write first) say so, so that readiness counts only what could be sent now.
-- `held_for` names what it waits for (NULL: nothing); `ready_since` is when a held delivery
-- became sendable again (NULL: since it was queued), from which its wait is measured.
ALTER TABLE outbox ADD COLUMN held_for TEXT;
ALTER TABLE outbox ADD COLUMN ready_since TEXT;
-- What readiness reads (every few seconds, on every worker): the pending rows only, with
-- what it needs, so a large backlog costs an index range, not the table.
CREATE INDEX outbox_pending_held ON outbox (held_for, created_at, ready_since) WHERE status = 'pending';
