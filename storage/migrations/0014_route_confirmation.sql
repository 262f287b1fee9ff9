-- A route a moderator adds (or moves to another group) waits for an admin: until
-- `confirmed_at` is set it receives no case. Routes made before this are confirmed.
-- Every change of a route (requested, added, confirmed, refused, removed) is in route_events.
ALTER TABLE routes ADD COLUMN confirmed_at TEXT;
ALTER TABLE routes ADD COLUMN confirmed_by TEXT;
UPDATE routes SET confirmed_at = created_at, confirmed_by = created_by;
CREATE TABLE route_events (
    id           INTEGER PRIMARY KEY,
    at           TEXT NOT NULL,
    actor        TEXT NOT NULL,
    actor_name   TEXT,
    action       TEXT NOT NULL CHECK (action IN ('requested', 'added', 'confirmed', 'refused', 'removed')),
    route_id     INTEGER,
    region_code  TEXT NOT NULL,
    agency_scope TEXT NOT NULL DEFAULT '',
    chat_id      INTEGER NOT NULL
);
CREATE INDEX route_events_at ON route_events (at);
