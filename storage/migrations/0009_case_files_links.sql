-- Case files (the PDF an officer takes to Bawaslu, BKN or the inspectorate) and links
-- between related reports.

-- One row per generated case file: its SHA-256 stays, so a copy can be checked later.
-- `data` holds the PDF only until its delivery is done (a retry sends the same bytes);
-- it is cleared once sent, when it can never be sent, and when the reporter's identity
-- is erased.
CREATE TABLE case_files (
    id           INTEGER PRIMARY KEY,
    case_id      INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
    delivery_id  INTEGER UNIQUE REFERENCES outbox(id) ON DELETE SET NULL,
    sha256       TEXT NOT NULL,
    size         INTEGER NOT NULL,
    audience     TEXT NOT NULL,
    generated_at TEXT NOT NULL,
    data         BLOB
);
CREATE INDEX case_files_case ON case_files (case_id);

-- Two cases that concern the same person or the same event. A pair is stored once,
-- the older case first; `reasons` is a comma list of name, event, file, manual.
CREATE TABLE case_links (
    case_id    INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
    other_id   INTEGER NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
    reasons    TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (case_id, other_id),
    CHECK (case_id < other_id)
) WITHOUT ROWID;
CREATE INDEX case_links_other ON case_links (other_id, case_id);

-- The candidate searches at submission: the same event (region, type, date), and the
-- latest cases of a province for similar names.
CREATE INDEX cases_event ON cases (region_code, incident_type, occurred_on);
CREATE INDEX cases_province ON cases (province_code);
