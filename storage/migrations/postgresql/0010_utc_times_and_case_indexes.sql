-- PostgreSQL twin of ../0010_utc_times_and_case_indexes.sql: the same conversion to UTC
-- text (utc_iso_text, from 0007), the same indexes, and the daily counts kept by PL/pgSQL
-- triggers with the same effect as SQLite's.
UPDATE cases SET created_at = utc_iso_text(created_at, true) WHERE created_at NOT LIKE '%+00:00';
UPDATE cases SET updated_at = utc_iso_text(updated_at, true) WHERE updated_at NOT LIKE '%+00:00';
UPDATE cases SET routed_at = utc_iso_text(routed_at, true) WHERE routed_at NOT LIKE '%+00:00';

DROP INDEX IF EXISTS cases_status_created;
DROP INDEX IF EXISTS cases_region;
CREATE INDEX cases_by_status ON cases (status, created_at, province_code, region_code, incident_type);
CREATE INDEX cases_by_province ON cases (province_code, created_at, status, incident_type);
CREATE INDEX cases_by_region ON cases (region_code, created_at, status, incident_type);
CREATE INDEX cases_by_type ON cases (incident_type, created_at, status, province_code, region_code);

DROP INDEX IF EXISTS cases_routed;
CREATE INDEX cases_due_reminder ON cases (routed_at)
    WHERE reminded_at IS NULL AND status IN ('baru', 'menunggu_rute', 'diteruskan', 'bukan_kewenangan');
CREATE INDEX cases_due_escalation ON cases (routed_at)
    WHERE escalated_at IS NULL AND status IN ('baru', 'menunggu_rute', 'diteruskan', 'bukan_kewenangan');
CREATE INDEX cases_retention ON cases (updated_at)
    WHERE status IN ('selesai', 'ditolak') AND (reporter_name IS NOT NULL OR reporter_phone IS NOT NULL);

DROP INDEX IF EXISTS evidence_sha256;
CREATE INDEX evidence_sha256 ON evidence (sha256, case_id);

CREATE TABLE case_counts (
    day       TEXT NOT NULL,
    dimension TEXT NOT NULL CHECK (dimension IN ('region', 'type', 'status')),
    value     TEXT NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (day, dimension, value)
);

INSERT INTO case_counts (day, dimension, value, n)
    SELECT substr(created_at, 1, 10), 'region', region_code, count(*) FROM cases GROUP BY 1, 3
    UNION ALL SELECT substr(created_at, 1, 10), 'type', incident_type, count(*) FROM cases GROUP BY 1, 3
    UNION ALL SELECT substr(created_at, 1, 10), 'status', status, count(*) FROM cases GROUP BY 1, 3;

-- One case counted in (delta +1) or out (-1) of its day's three counts.
CREATE FUNCTION case_counts_count(created_at TEXT, region TEXT, kind TEXT, status TEXT, delta BIGINT)
    RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF delta > 0 THEN
        INSERT INTO case_counts AS c (day, dimension, value, n) VALUES
            (substr(created_at, 1, 10), 'region', region, delta),
            (substr(created_at, 1, 10), 'type', kind, delta),
            (substr(created_at, 1, 10), 'status', status, delta)
        ON CONFLICT (day, dimension, value) DO UPDATE SET n = c.n + excluded.n;
    ELSE
        UPDATE case_counts AS c SET n = c.n + delta WHERE c.day = substr(created_at, 1, 10) AND (
            (c.dimension = 'region' AND c.value = region) OR (c.dimension = 'type' AND c.value = kind)
            OR (c.dimension = 'status' AND c.value = status));
    END IF;
END
$$;

CREATE FUNCTION case_counts_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM case_counts_count(OLD.created_at, OLD.region_code, OLD.incident_type, OLD.status, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM case_counts_count(NEW.created_at, NEW.region_code, NEW.incident_type, NEW.status, 1);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER case_counts_insert AFTER INSERT ON cases
    FOR EACH ROW EXECUTE FUNCTION case_counts_trigger();
CREATE TRIGGER case_counts_update AFTER UPDATE OF status, region_code, incident_type, created_at ON cases
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.region_code IS DISTINCT FROM NEW.region_code
        OR OLD.incident_type IS DISTINCT FROM NEW.incident_type OR OLD.created_at IS DISTINCT FROM NEW.created_at)
    EXECUTE FUNCTION case_counts_trigger();
CREATE TRIGGER case_counts_delete AFTER DELETE ON cases
    FOR EACH ROW EXECUTE FUNCTION case_counts_trigger();
