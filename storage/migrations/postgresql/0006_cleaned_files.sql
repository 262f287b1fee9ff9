-- PostgreSQL twin of ../0006_cleaned_files.sql.
CREATE TABLE cleaned_files (
    sha256        TEXT PRIMARY KEY,
    version       BIGINT NOT NULL,
    clean_sha256  TEXT,
    mime          TEXT,
    extension     TEXT,
    width         BIGINT,
    height        BIGINT,
    unsafe_reason TEXT,
    cleaned_at    TEXT NOT NULL,
    CHECK ((clean_sha256 IS NULL) != (unsafe_reason IS NULL))
);
