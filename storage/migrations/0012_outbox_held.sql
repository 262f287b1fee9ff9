-- Deliveries that wait for something outside the service (WhatsApp's 24-hour window: the
-- person must write first) say so, so that readiness counts only what could be sent now.
-- `held_for` names what it waits for (NULL: nothing); `ready_since` is when a held delivery
-- became sendable again (NULL: since it was queued), from which its wait is measured.
ALTER TABLE outbox ADD COLUMN held_for TEXT;
ALTER TABLE outbox ADD COLUMN ready_since TEXT;
