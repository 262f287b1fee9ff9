-- PostgreSQL twin of ../0018_sealed_at_rest.sql. Sealed values and keyed hashes are bytes:
-- their columns become BYTEA, holding the old text as UTF-8 until `seal_in_place` (in the
-- same transaction) seals it; VACUUM FULL of these tables follows the commit.
CREATE TABLE keyring (
    id         TEXT NOT NULL,
    kek        TEXT NOT NULL,
    purpose    TEXT NOT NULL CHECK (purpose IN ('values', 'lookup', 'digest')),
    wrapped    BYTEA NOT NULL,
    active     INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    PRIMARY KEY (id, kek)
);
ALTER TABLE reporters ADD COLUMN address_sealed BYTEA;
ALTER TABLE outbox ADD COLUMN address_sealed BYTEA;
ALTER TABLE inbound_queue ADD COLUMN address_sealed BYTEA;
ALTER TABLE conversations ADD COLUMN files TEXT;
UPDATE conversations SET files = (
    SELECT coalesce(jsonb_agg(jsonb_build_object('sha256', e.value ->> 'sha256')), '[]'::jsonb)::text
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(data::jsonb #> '{draft,evidence}') = 'array'
                                   THEN data::jsonb #> '{draft,evidence}' ELSE '[]'::jsonb END) AS e
    WHERE e.value ? 'sha256');

ALTER TABLE reporters ALTER COLUMN address TYPE BYTEA USING convert_to(address, 'UTF8');
ALTER TABLE conversations ALTER COLUMN address TYPE BYTEA USING convert_to(address, 'UTF8'),
    ALTER COLUMN data TYPE BYTEA USING convert_to(data, 'UTF8');
ALTER TABLE contacts ALTER COLUMN address TYPE BYTEA USING convert_to(address, 'UTF8');
ALTER TABLE outbox ALTER COLUMN address TYPE BYTEA USING convert_to(address, 'UTF8'),
    ALTER COLUMN payload TYPE BYTEA USING convert_to(payload, 'UTF8');
ALTER TABLE inbound_queue ALTER COLUMN address TYPE BYTEA USING convert_to(address, 'UTF8'),
    ALTER COLUMN payload TYPE BYTEA USING convert_to(payload, 'UTF8');
ALTER TABLE flood_windows ALTER COLUMN address TYPE BYTEA USING convert_to(address, 'UTF8');
ALTER TABLE cases
    ALTER COLUMN agency_name TYPE BYTEA USING convert_to(agency_name, 'UTF8'),
    ALTER COLUMN person_name TYPE BYTEA USING convert_to(person_name, 'UTF8'),
    ALTER COLUMN person_position TYPE BYTEA USING convert_to(person_position, 'UTF8'),
    ALTER COLUMN place TYPE BYTEA USING convert_to(place, 'UTF8'),
    ALTER COLUMN latitude TYPE BYTEA USING convert_to(latitude::text, 'UTF8'),
    ALTER COLUMN longitude TYPE BYTEA USING convert_to(longitude::text, 'UTF8'),
    ALTER COLUMN description TYPE BYTEA USING convert_to(description, 'UTF8'),
    ALTER COLUMN witnesses TYPE BYTEA USING convert_to(witnesses, 'UTF8'),
    ALTER COLUMN reporter_name TYPE BYTEA USING convert_to(reporter_name, 'UTF8'),
    ALTER COLUMN reporter_phone TYPE BYTEA USING convert_to(reporter_phone, 'UTF8');
ALTER TABLE case_events ALTER COLUMN note TYPE BYTEA USING convert_to(note, 'UTF8');
ALTER TABLE evidence
    ALTER COLUMN channel_ref TYPE BYTEA USING convert_to(channel_ref, 'UTF8'),
    ALTER COLUMN channel_unique_ref TYPE BYTEA USING convert_to(channel_unique_ref, 'UTF8'),
    ALTER COLUMN file_name TYPE BYTEA USING convert_to(file_name, 'UTF8'),
    ALTER COLUMN url TYPE BYTEA USING convert_to(url, 'UTF8'),
    ALTER COLUMN text TYPE BYTEA USING convert_to(text, 'UTF8'),
    ALTER COLUMN origin TYPE BYTEA USING convert_to(origin, 'UTF8');
ALTER TABLE info_requests ALTER COLUMN question TYPE BYTEA USING convert_to(question, 'UTF8');
-- Evidence files are named by a keyed name (storage/sealing.py, `file_name`), not by the
-- SHA-256 of their bytes, which a copy would otherwise reveal.
ALTER TABLE evidence_blobs RENAME COLUMN sha256 TO name;
-- Issue 25's Retry-After floors name the address they hold back: its keyed hash, as the
-- outbox's, which they are joined to.
ALTER TABLE send_floors ALTER COLUMN address TYPE BYTEA USING convert_to(address, 'UTF8');
