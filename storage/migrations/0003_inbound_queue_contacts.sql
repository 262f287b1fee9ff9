-- Webhook channels (WhatsApp) answer at once and process later: the inbound queue holds
-- what arrived until it has been through the engine. Contacts keep what a channel needs to
-- know about an address: when it last wrote (WhatsApp's 24-hour window) and opt-outs.

CREATE TABLE inbound_queue (
    id              INTEGER PRIMARY KEY,
    channel         TEXT NOT NULL,
    address         TEXT NOT NULL,
    external_id     TEXT NOT NULL,
    payload         TEXT NOT NULL,
    received_at     TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    leased_until    TEXT,
    last_error      TEXT,
    UNIQUE (channel, external_id)
);
CREATE INDEX inbound_queue_due ON inbound_queue (status, next_attempt_at);
CREATE INDEX inbound_queue_address ON inbound_queue (channel, address, status, id);

CREATE TABLE contacts (
    channel         TEXT NOT NULL,
    address         TEXT NOT NULL,
    last_inbound_at TEXT,
    opted_out_at    TEXT,
    PRIMARY KEY (channel, address)
) WITHOUT ROWID;
