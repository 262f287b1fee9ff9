-- Routing to focal points, the outbox of messages to other chats, and the case lifecycle.

-- A focal point: a Telegram group that receives a region's cases (FixMyStreet's contacts).
-- agency_scope '' takes every agency group; otherwise only cases about that group.
CREATE TABLE routes (
    id            INTEGER PRIMARY KEY,
    region_code   TEXT NOT NULL,
    agency_scope  TEXT NOT NULL DEFAULT '',
    chat_id       INTEGER NOT NULL,
    chat_title    TEXT,
    status        TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'broken')),
    broken_reason TEXT,
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    UNIQUE (region_code, agency_scope, chat_id)
);
CREATE INDEX routes_chat ON routes (chat_id);

-- Each group a case was sent to, and the message there that officers act on.
CREATE TABLE case_posts (
    id          INTEGER PRIMARY KEY,
    case_id     INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
    chat_id     INTEGER NOT NULL,
    route_id    INTEGER REFERENCES routes(id) ON DELETE SET NULL,
    message_id  INTEGER,
    active      INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    UNIQUE (case_id, chat_id)
);
CREATE INDEX case_posts_message ON case_posts (chat_id, message_id);

-- Messages to other chats, written in the transaction that decides them and sent by the
-- delivery worker. `progress` counts the parts of a multi-part delivery already sent.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    channel         TEXT NOT NULL,
    address         TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('post_case', 'edit_case', 'send')),
    payload         TEXT NOT NULL,
    case_id         INTEGER REFERENCES cases(id) ON DELETE CASCADE,
    post_id         INTEGER REFERENCES case_posts(id) ON DELETE CASCADE,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    progress        INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    leased_until    TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    done_at         TEXT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

CREATE TABLE moderators (
    user_id   INTEGER PRIMARY KEY,
    added_by  TEXT NOT NULL,
    added_at  TEXT NOT NULL
);

-- A question the bot asked in a group and is waiting for a reply to (force reply):
-- an officer's question for the reporter, a new region, or a reason for rejection.
CREATE TABLE group_prompts (
    id          INTEGER PRIMARY KEY,
    case_id     INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
    chat_id     INTEGER NOT NULL,
    message_id  INTEGER NOT NULL,
    action      TEXT NOT NULL CHECK (action IN ('ask', 'reroute', 'reject')),
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    used_at     TEXT,
    UNIQUE (chat_id, message_id)
);

-- Officers' questions relayed to the reporter, and the answers.
CREATE TABLE info_requests (
    id          INTEGER PRIMARY KEY,
    case_id     INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
    chat_id     INTEGER NOT NULL,
    question    TEXT NOT NULL,
    asked_by    TEXT NOT NULL,
    asked_at    TEXT NOT NULL,
    answered_at TEXT
);

ALTER TABLE case_events ADD COLUMN actor_name TEXT;
ALTER TABLE cases ADD COLUMN routed_at TEXT;
ALTER TABLE cases ADD COLUMN reminded_at TEXT;
ALTER TABLE cases ADD COLUMN escalated_at TEXT;
CREATE INDEX cases_routed ON cases (status, routed_at);
CREATE INDEX outbox_chat ON outbox (channel, address, status, id);
