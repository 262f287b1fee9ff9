-- PostgreSQL twin of ../0007_reporter_data.sql.
ALTER TABLE evidence ADD COLUMN stored_as TEXT CHECK (stored_as IN ('cleaned', 'removed'));
CREATE INDEX evidence_stored ON evidence (case_id, stored_as);
CREATE INDEX outbox_done ON outbox (status, done_at);

-- A timestamp as UTC ISO text (YYYY-MM-DDTHH:MM:SS[.fraction]+00:00), as SQLite's
-- migrations write them; text that is no timestamp is left as it is. Sessions run in UTC,
-- so text without an offset is UTC, as in SQLite. Used by this migration and 0010.
CREATE FUNCTION utc_iso_text(value TEXT, keep_fraction BOOLEAN) RETURNS TEXT
    LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE
    moment TIMESTAMPTZ;
BEGIN
    moment := value::timestamptz;
    RETURN to_char(moment AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
        || CASE WHEN keep_fraction THEN coalesce(substring(value FROM '^.{19}(\.[0-9]+)'), '') ELSE '' END
        || '+00:00';
EXCEPTION WHEN others THEN
    RETURN value;
END
$$;

-- processed_at is compared as text from now on: all in UTC.
UPDATE processed_updates SET processed_at = utc_iso_text(processed_at, false);
CREATE INDEX processed_updates_at ON processed_updates (processed_at);
