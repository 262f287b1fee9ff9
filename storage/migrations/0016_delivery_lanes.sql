-- Issue 25: leases a restart can reclaim, priorities, Retry-After kept as a floor.
-- Issue 28: work that was running when the process died is counted, and set aside after 3.

-- A process that leases work (deliveries, WhatsApp messages, replies it sends itself). A
-- lease names its worker: a worker's leases are free as soon as it is known to be dead (its
-- heartbeat stopped, or, on SQLite, the next process starts), not when the lease time ends.
CREATE TABLE workers (
    id           TEXT PRIMARY KEY,
    started_at   TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL
);

-- `crashes`: how often the process died while this was in flight. `priority` 0 is a reply to
-- someone who just wrote, 1 anything else (news, group posts, alerts).
ALTER TABLE outbox ADD COLUMN leased_by TEXT;
ALTER TABLE outbox ADD COLUMN crashes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN priority INTEGER NOT NULL DEFAULT 1;
CREATE INDEX outbox_leased_by ON outbox (leased_by) WHERE leased_by IS NOT NULL;
ALTER TABLE inbound_queue ADD COLUMN leased_by TEXT;
ALTER TABLE inbound_queue ADD COLUMN crashes INTEGER NOT NULL DEFAULT 0;
CREATE INDEX inbound_queue_leased_by ON inbound_queue (leased_by) WHERE leased_by IS NOT NULL;

-- The earliest time a channel lets us write to an address (a person or a group) again: a
-- 429's Retry-After, Telegram's retry_after. Nothing goes to that address before it.
CREATE TABLE send_floors (
    channel    TEXT NOT NULL,
    address    TEXT NOT NULL,
    not_before TEXT NOT NULL,
    PRIMARY KEY (channel, address)
);
CREATE INDEX send_floors_until ON send_floors (not_before);

-- Telegram updates that carry a file, counted as their handling starts (Telegram sends an
-- update again after a crash; a count above one means the earlier tries died).
CREATE TABLE update_attempts (
    channel    TEXT NOT NULL,
    update_id  TEXT NOT NULL,
    attempts   INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    PRIMARY KEY (channel, update_id)
);
CREATE INDEX update_attempts_started ON update_attempts (started_at);

-- Work set aside after the process died three times while doing it: no identifiers, only
-- what it was, its case, and when (for `/healthz` and the moderators).
CREATE TABLE set_aside (
    id        INTEGER PRIMARY KEY,
    kind      TEXT NOT NULL,
    channel   TEXT NOT NULL,
    case_id   INTEGER REFERENCES cases(id) ON DELETE SET NULL,
    crashes   INTEGER NOT NULL,
    at        TEXT NOT NULL
);
