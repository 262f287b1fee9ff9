-- The cleaned copy of each evidence file, computed once: `sha256` is the original's (as in
-- evidence.sha256), `clean_sha256` the copy's in the evidence store; a file that cannot be
-- made safe has no copy and a reason. `version` is the cleaners' (cleaning.VERSION): a
-- result of an older version is computed again. A cleaned copy is also recorded as its
-- own clean copy, so it is never cleaned twice.
CREATE TABLE cleaned_files (
    sha256        TEXT PRIMARY KEY,
    version       INTEGER NOT NULL,
    clean_sha256  TEXT,
    mime          TEXT,
    extension     TEXT,
    width         INTEGER,
    height        INTEGER,
    unsafe_reason TEXT,
    cleaned_at    TEXT NOT NULL,
    CHECK ((clean_sha256 IS NULL) != (unsafe_reason IS NULL))
) WITHOUT ROWID;
