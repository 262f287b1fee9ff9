-- Case times compared as stored: every case timestamp becomes UTC ISO text
-- (YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00), which sorts as the moments do, so the filters
-- compare columns directly and indexes apply. Rows written with another offset (the
-- service's +07:00) or none are converted; the fraction of a second is kept.
UPDATE cases SET created_at = strftime('%Y-%m-%dT%H:%M:%S', created_at)
    || CASE WHEN substr(created_at, 20, 1) = '.' THEN substr(created_at, 20, length(created_at) - 19
        - CASE WHEN created_at GLOB '*[+-][0-9][0-9]:[0-9][0-9]' THEN 6 ELSE 0 END) ELSE '' END || '+00:00'
WHERE created_at NOT LIKE '%+00:00' AND strftime('%s', created_at) IS NOT NULL;
UPDATE cases SET updated_at = strftime('%Y-%m-%dT%H:%M:%S', updated_at)
    || CASE WHEN substr(updated_at, 20, 1) = '.' THEN substr(updated_at, 20, length(updated_at) - 19
        - CASE WHEN updated_at GLOB '*[+-][0-9][0-9]:[0-9][0-9]' THEN 6 ELSE 0 END) ELSE '' END || '+00:00'
WHERE updated_at NOT LIKE '%+00:00' AND strftime('%s', updated_at) IS NOT NULL;
UPDATE cases SET routed_at = strftime('%Y-%m-%dT%H:%M:%S', routed_at)
    || CASE WHEN substr(routed_at, 20, 1) = '.' THEN substr(routed_at, 20, length(routed_at) - 19
        - CASE WHEN routed_at GLOB '*[+-][0-9][0-9]:[0-9][0-9]' THEN 6 ELSE 0 END) ELSE '' END || '+00:00'
WHERE routed_at NOT LIKE '%+00:00' AND strftime('%s', routed_at) IS NOT NULL;

-- The filters of /kasus and /ekspor: one index per leading filter, ordered by time (the
-- list is newest first) and carrying the other filter columns, so that counting the
-- matches never reads the table. A province code filters on province_code, a
-- kabupaten/kota code on region_code.
DROP INDEX IF EXISTS cases_status_created;
DROP INDEX IF EXISTS cases_region;
CREATE INDEX cases_by_status ON cases (status, created_at, province_code, region_code, incident_type);
CREATE INDEX cases_by_province ON cases (province_code, created_at, status, incident_type);
CREATE INDEX cases_by_region ON cases (region_code, created_at, status, incident_type);
CREATE INDEX cases_by_type ON cases (incident_type, created_at, status, province_code, region_code);

-- The per-minute deadline checks look only at cases still waiting for a reminder or an
-- escalation, not at every old unaccepted case; the daily retention only at closed
-- cases that still hold an identity.
DROP INDEX IF EXISTS cases_routed;
CREATE INDEX cases_due_reminder ON cases (routed_at)
    WHERE reminded_at IS NULL AND status IN ('baru', 'menunggu_rute', 'diteruskan', 'bukan_kewenangan');
CREATE INDEX cases_due_escalation ON cases (routed_at)
    WHERE escalated_at IS NULL AND status IN ('baru', 'menunggu_rute', 'diteruskan', 'bukan_kewenangan');
CREATE INDEX cases_retention ON cases (updated_at)
    WHERE status IN ('selesai', 'ditolak') AND (reporter_name IS NOT NULL OR reporter_phone IS NOT NULL);

-- The duplicate-evidence check reads the newest few earlier cases with the same file.
DROP INDEX IF EXISTS evidence_sha256;
CREATE INDEX evidence_sha256 ON evidence (sha256, case_id);

-- Daily counts for /statistik, kept by triggers so that every path that adds or changes a
-- case keeps them right: per UTC day of creation, the number of cases by region, by type
-- and by status. A 90-day summary reads at most 90 x (regions + types + statuses) rows.
CREATE TABLE case_counts (
    day       TEXT NOT NULL,
    dimension TEXT NOT NULL CHECK (dimension IN ('region', 'type', 'status')),
    value     TEXT NOT NULL,
    n         INTEGER NOT NULL,
    PRIMARY KEY (day, dimension, value)
) WITHOUT ROWID;

INSERT INTO case_counts (day, dimension, value, n)
    SELECT substr(created_at, 1, 10), 'region', region_code, count(*) FROM cases GROUP BY 1, 3
    UNION ALL SELECT substr(created_at, 1, 10), 'type', incident_type, count(*) FROM cases GROUP BY 1, 3
    UNION ALL SELECT substr(created_at, 1, 10), 'status', status, count(*) FROM cases GROUP BY 1, 3;

CREATE TRIGGER case_counts_insert AFTER INSERT ON cases BEGIN
    INSERT INTO case_counts (day, dimension, value, n) VALUES
        (substr(NEW.created_at, 1, 10), 'region', NEW.region_code, 1),
        (substr(NEW.created_at, 1, 10), 'type', NEW.incident_type, 1),
        (substr(NEW.created_at, 1, 10), 'status', NEW.status, 1)
    ON CONFLICT (day, dimension, value) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER case_counts_update AFTER UPDATE OF status, region_code, incident_type, created_at ON cases
WHEN OLD.status IS NOT NEW.status OR OLD.region_code IS NOT NEW.region_code
    OR OLD.incident_type IS NOT NEW.incident_type OR OLD.created_at IS NOT NEW.created_at BEGIN
    UPDATE case_counts SET n = n - 1 WHERE day = substr(OLD.created_at, 1, 10) AND (
        (dimension = 'region' AND value = OLD.region_code) OR (dimension = 'type' AND value = OLD.incident_type)
        OR (dimension = 'status' AND value = OLD.status));
    INSERT INTO case_counts (day, dimension, value, n) VALUES
        (substr(NEW.created_at, 1, 10), 'region', NEW.region_code, 1),
        (substr(NEW.created_at, 1, 10), 'type', NEW.incident_type, 1),
        (substr(NEW.created_at, 1, 10), 'status', NEW.status, 1)
    ON CONFLICT (day, dimension, value) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER case_counts_delete AFTER DELETE ON cases BEGIN
    UPDATE case_counts SET n = n - 1 WHERE day = substr(OLD.created_at, 1, 10) AND (
        (dimension = 'region' AND value = OLD.region_code) OR (dimension = 'type' AND value = OLD.incident_type)
        OR (dimension = 'status' AND value = OLD.status));
END;
