-- Focal points on WhatsApp (issue 26). WhatsApp cannot post into groups, so a focal point
-- there is a roster: the numbers of the officers who serve it. A roster is a focal point
-- like a Telegram group: routes, case posts, prompts and officers' questions name it by its
-- `chat_id`, which is taken below -2^53 (Telegram's ids have at most 52 significant bits, so
-- no Telegram chat ever has one): `storage/rosters.py` makes it.
CREATE TABLE rosters (
    id          INTEGER PRIMARY KEY,
    chat_id     INTEGER UNIQUE,
    title       TEXT,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

-- An officer's number in a roster, and where they stand: waiting for an admin (a
-- moderator added them), invited (no answer yet), active (said yes: gets the roster's
-- cases), declined, stopped (sent STOP, or Twilio says they opted out) or removed. Only an
-- active member gets anything of a case. `position` names them to their colleagues
-- ("Petugas 2"); `last_case_id` is the case a bare number applies to; `prompt_*` the
-- question the officer's next message answers (Minta info, Bukan kewenangan, Tolak).
CREATE TABLE roster_members (
    id             INTEGER PRIMARY KEY,
    chat_id        INTEGER NOT NULL REFERENCES rosters(chat_id),
    number         TEXT NOT NULL UNIQUE,
    position       INTEGER NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('waiting_admin', 'invited', 'active', 'declined', 'stopped',
                                                   'removed')),
    region_code    TEXT NOT NULL,
    agency_scope   TEXT NOT NULL DEFAULT '',
    route_id       INTEGER,
    requested_by   TEXT NOT NULL,
    requested_name TEXT,
    created_at     TEXT NOT NULL,
    confirmed_at   TEXT,
    confirmed_by   TEXT,
    answered_at    TEXT,
    last_case_id   INTEGER REFERENCES cases(id) ON DELETE SET NULL,
    prompt_case_id INTEGER REFERENCES cases(id) ON DELETE SET NULL,
    prompt_action  TEXT CHECK (prompt_action IN ('ask', 'reroute', 'reject')),
    UNIQUE (chat_id, position)
);
CREATE INDEX roster_members_roster ON roster_members (chat_id, status);

-- The media URLs Twilio fetches officers' files from serve only cleaned copies and
-- recorded case files (`bot/whatsapp/media_links.py`): a case file is found by its hash.
CREATE INDEX case_files_sha ON case_files (sha256);

-- The routes' audit trail names the officer a change was about, and records their answers.
CREATE TABLE route_events_new (
    id           INTEGER PRIMARY KEY,
    at           TEXT NOT NULL,
    actor        TEXT NOT NULL,
    actor_name   TEXT,
    action       TEXT NOT NULL CHECK (action IN ('requested', 'added', 'confirmed', 'refused', 'removed', 'accepted',
                                                 'declined', 'stopped')),
    route_id     INTEGER,
    region_code  TEXT NOT NULL,
    agency_scope TEXT NOT NULL DEFAULT '',
    chat_id      INTEGER NOT NULL,
    officer      TEXT
);
INSERT INTO route_events_new (id, at, actor, actor_name, action, route_id, region_code, agency_scope, chat_id)
    SELECT id, at, actor, actor_name, action, route_id, region_code, agency_scope, chat_id FROM route_events;
DROP TABLE route_events;
ALTER TABLE route_events_new RENAME TO route_events;
CREATE INDEX route_events_at ON route_events (at);
