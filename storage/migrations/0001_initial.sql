-- Core tables: reporters, their conversations, cases with evidence and an audit trail,
-- and the record of inbound updates already processed (idempotency).

CREATE TABLE reporters (
    id          INTEGER PRIMARY KEY,
    channel     TEXT NOT NULL,
    address     TEXT NOT NULL,
    locale      TEXT NOT NULL DEFAULT 'id',
    blocked     INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    UNIQUE (channel, address)
);

CREATE TABLE conversations (
    channel     TEXT NOT NULL,
    address     TEXT NOT NULL,
    state       TEXT NOT NULL,
    data        TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (channel, address)
) WITHOUT ROWID;

CREATE TABLE processed_updates (
    channel      TEXT NOT NULL,
    update_id    TEXT NOT NULL,
    processed_at TEXT NOT NULL,
    PRIMARY KEY (channel, update_id)
) WITHOUT ROWID;

-- Consent decisions. A refusal keeps no reporter link: nothing but the refusal is stored.
CREATE TABLE consents (
    id          INTEGER PRIMARY KEY,
    reporter_id INTEGER REFERENCES reporters(id) ON DELETE SET NULL,
    decision    TEXT NOT NULL CHECK (decision IN ('given', 'refused', 'withdrawn')),
    at          TEXT NOT NULL
);

CREATE TABLE cases (
    id              INTEGER PRIMARY KEY,
    number          TEXT NOT NULL UNIQUE,
    status          TEXT NOT NULL DEFAULT 'baru',
    reporter_id     INTEGER NOT NULL REFERENCES reporters(id),
    channel         TEXT NOT NULL,
    locale          TEXT NOT NULL,
    region_code     TEXT NOT NULL,
    province_code   TEXT NOT NULL,
    agency_group    TEXT NOT NULL,
    agency_unit     TEXT,
    agency_name     TEXT,
    person_name     TEXT,
    person_position TEXT,
    person_status   TEXT NOT NULL,
    incident_type   TEXT NOT NULL,
    occurred_on     TEXT NOT NULL,
    learned_on      TEXT NOT NULL,
    place           TEXT NOT NULL,
    latitude        REAL,
    longitude       REAL,
    description     TEXT NOT NULL CHECK (length(description) >= 30),
    witnesses       TEXT,
    identity_mode   TEXT NOT NULL CHECK (identity_mode IN ('anonim', 'rahasia', 'terbuka')),
    reporter_name   TEXT,
    reporter_phone  TEXT,
    consent_at      TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    CHECK (identity_mode = 'anonim' OR (reporter_name IS NOT NULL AND reporter_phone IS NOT NULL))
);
CREATE INDEX cases_status_created ON cases (status, created_at);
CREATE INDEX cases_region ON cases (region_code);
CREATE INDEX cases_reporter ON cases (reporter_id);

CREATE TABLE evidence (
    id                 INTEGER PRIMARY KEY,
    case_id            INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
    position           INTEGER NOT NULL,
    kind               TEXT NOT NULL CHECK (kind IN ('photo', 'video', 'document')),
    channel_ref        TEXT NOT NULL,
    channel_unique_ref TEXT,
    mime               TEXT,
    size               INTEGER,
    sha256             TEXT,
    file_name          TEXT,
    created_at         TEXT NOT NULL,
    UNIQUE (case_id, position)
);
CREATE INDEX evidence_sha256 ON evidence (sha256);

-- Status history and audit trail: every change to a case, with who and when.
CREATE TABLE case_events (
    id       INTEGER PRIMARY KEY,
    case_id  INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
    at       TEXT NOT NULL,
    actor    TEXT NOT NULL,
    kind     TEXT NOT NULL,
    before   TEXT,
    after    TEXT,
    note     TEXT
);
CREATE INDEX case_events_case ON case_events (case_id, id);
