"""Issue 24: a database from before sealing is sealed in place by its migration. Its rows
(reporters, conversations, contacts, the outbox, its Retry-After floors and the inbound
queue, cases and their events and evidence rows) and its evidence files are written in plain text as the old code
wrote them; the first open with a data key seals every value, replaces every address by its
keyed hash, seals and renames every evidence file, keeps the old message-digest key (so old
digests still match), and rewrites the file (SQLite: VACUUM; PostgreSQL: VACUUM FULL), after
which no byte of the file, its -wal, the evidence or a dump holds the plain text, and the
service reads everything as before."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from storage import Database, cases, contacts, conversations, inbound_queue, keys, outbox, reporters, retention, updates
from storage.at_rest import MIGRATION
from storage.backup import _libpq, pg_tool
from storage.database import migrations
from storage.evidence_files import EvidenceStore
from storage.sqlite import _split_sql
from tests.backends import Backend, _psycopg_dsn, _psycopg_sql, fixed_key

NAME, PHONE, CHAT, NUMBER = "Siti Aminah", "+6281234567890", "730111222", "+6281298765432"
NEEDLES = [NAME, PHONE[1:], CHAT, NUMBER[1:], "Laporan_Siti"]
PHOTO = b"\xff\xd8\xff\xfe" + f"JPEG comment {NAME} {PHONE}".encode() + b"\x00" * 3000
PHOTO_SHA = hashlib.sha256(PHOTO).hexdigest()
OLD_DIGEST_KEY = b"k" * 32
AT = "2024-11-20T10:00:00+00:00"
LATER = "2030-01-01T00:00:00+00:00"


class _Undo(Exception):
    """Rolls a transaction back."""


def _old_migrations(folder: str | None = None) -> list[tuple[int, str, str]]:
    found = []
    for number, name, sql in migrations(folder, with_names=True):  # type: ignore[call-overload]
        if name.split("_", 1)[1].removesuffix(".sql") == MIGRATION:
            break
        found.append((number, name, sql))
    return found


def _old_rows() -> list[tuple[str, tuple[Any, ...]]]:
    """What the old code stored for one reporter on each channel, in plain text."""
    draft = {"state": "SUMMARY", "draft": {"reporter_name": NAME, "reporter_phone": PHONE,
                                            "evidence": [{"sha256": PHOTO_SHA, "kind": "photo"}]}}
    digest = updates.digest(keys.DigestKey(OLD_DIGEST_KEY), "telegram", CHAT, "900")
    return [
        ("INSERT INTO installation_keys (name, key, created_at) VALUES ('message_digest', ?, ?)", (OLD_DIGEST_KEY, AT)),
        ("INSERT INTO reporters (id, channel, address, locale, created_at) VALUES (1, 'telegram', ?, 'id', ?)", (CHAT, AT)),
        ("INSERT INTO reporters (id, channel, address, locale, created_at) VALUES (2, 'whatsapp', ?, 'id', ?)",
         (NUMBER, AT)),
        ("INSERT INTO conversations (channel, address, state, data, updated_at) VALUES ('telegram', ?, 'SUMMARY', ?, ?)",
         (CHAT, json.dumps(draft), AT)),
        ("INSERT INTO contacts (channel, address, last_inbound_at) VALUES ('whatsapp', ?, ?)", (NUMBER, AT)),
        ("INSERT INTO cases (id, number, reporter_id, channel, locale, region_code, province_code, agency_group,"
         " agency_name, person_name, person_status, incident_type, occurred_on, learned_on, place, latitude, longitude,"
         " description, identity_mode, reporter_name, reporter_phone, consent_at, created_at, updated_at)"
         " VALUES (1, 'LN-24-AAAAA', 1, 'telegram', 'id', '51.71', '51', 'pemda', 'SMPN 1', 'Budi Santoso', 'pns',"
         " 'media_sosial', '2024-11-19', '2024-11-19', 'Ruang guru', -8.65, 115.21, ?, 'rahasia', ?, ?, ?, ?, ?)",
         (f"Kepala sekolah berkampanye, kata {NAME}, di grup guru SMPN 1.", NAME, PHONE, AT, AT, AT)),
        ("INSERT INTO case_events (case_id, at, actor, kind, note) VALUES (1, ?, 'reporter', 'info_answer', ?)",
         (AT, f"Saya {NAME}, {PHONE}")),
        ("INSERT INTO evidence (case_id, position, kind, channel_ref, mime, size, sha256, file_name, created_at)"
         " VALUES (1, 1, 'photo', ?, 'image/jpeg', ?, ?, 'Laporan_Siti.jpg', ?)", (f"{CHAT}-foto", len(PHOTO), PHOTO_SHA, AT)),
        ("INSERT INTO outbox (channel, address, kind, payload, next_attempt_at, created_at) VALUES ('telegram', ?, 'send', ?,"
         " ?, ?)", (CHAT, json.dumps({"replies": [{"type": "text", "text": f"Terima kasih, {NAME}"}]}), AT, AT)),
        ("INSERT INTO inbound_queue (channel, address, external_id, payload, received_at, next_attempt_at)"
         " VALUES ('whatsapp', ?, 'SM1', ?, ?, ?)", (NUMBER, json.dumps({"From": f"whatsapp:{NUMBER}", "Body": NAME}), AT, AT)),
        ("INSERT INTO processed_updates (channel, update_id, processed_at, digest) VALUES ('telegram', '900', ?, ?)",
         (AT, digest)),
        ("INSERT INTO send_floors (channel, address, not_before) VALUES ('whatsapp', ?, ?)", (NUMBER, LATER)),
    ]


def _old_sqlite(path: Path, evidence: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    for number, _name, sql in _old_migrations():
        for statement in _split_sql(sql):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {number}")
    for sql, params in _old_rows():
        conn.execute(sql, params)
    conn.close()
    (evidence / PHOTO_SHA[:2]).mkdir(parents=True)
    (evidence / PHOTO_SHA[:2] / PHOTO_SHA).write_bytes(PHOTO)


@contextmanager
def _old_postgres(server_url: str) -> Iterator[str]:
    import psycopg

    name = f"old_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_psycopg_dsn(server_url), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = server_url.replace("/postgres?", f"/{name}?")
    try:
        with psycopg.connect(_psycopg_dsn(url), autocommit=True) as conn:
            conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                         " applied_at TEXT NOT NULL)")
            for number, migration, sql in _old_migrations("postgresql"):
                conn.execute(sql)
                conn.execute("INSERT INTO schema_migrations VALUES (%s, %s, %s)", (number, migration, AT))
            for sql, params in _old_rows():
                conn.execute(_psycopg_sql(sql), params)
            upload = uuid.uuid4()
            conn.execute("INSERT INTO evidence_chunks (upload, seq, data, written_at) VALUES (%s, 0, %s, %s)",
                         (upload, PHOTO, AT))
            conn.execute("INSERT INTO evidence_blobs (sha256, upload, size, created_at) VALUES (%s, %s, %s, %s)",
                         (PHOTO_SHA, upload, len(PHOTO), AT))
        yield url
    finally:
        with psycopg.connect(_psycopg_dsn(server_url), autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _found(data: bytes) -> list[str]:
    lowered = data.lower()
    return [n for n in NEEDLES if n.encode() in data or n.encode().hex().encode() in lowered]


async def _reads_as_before(db: Database, evidence: Path) -> None:
    async with db.reading() as tx:
        person = await reporters.find(tx, "telegram", CHAT)
        assert person is not None and person.address == CHAT and person.id == 1
        assert (await reporters.find(tx, "whatsapp", NUMBER)) is not None
        case = await cases.get(tx, 1)
        assert case is not None and (case.reporter_name, case.reporter_phone) == (NAME, PHONE)
        assert (case.latitude, case.longitude) == (-8.65, 115.21) and NAME in case.description
        assert [e.note for e in await cases.events_of(tx, 1)] == [f"Saya {NAME}, {PHONE}"]
        assert [e.file_name for e in await cases.evidence_of(tx, 1)] == ["Laporan_Siti.jpg"]
        stored = await conversations.load(tx, "telegram", CHAT)
        assert stored is not None and NAME in stored.data
        assert await retention.referenced_files(tx, [PHOTO_SHA]) == {PHOTO_SHA}, "the draft's file is still seen"
        assert await contacts.get(tx, "whatsapp", NUMBER) is not None
        assert await outbox.floor_of(tx, "whatsapp", NUMBER) == LATER, "a Retry-After floor, found by the hash"
        old = updates.digest(keys.DigestKey(OLD_DIGEST_KEY), "telegram", CHAT, "900")
        assert updates.digest(await keys.message_digest_key(db), "telegram", CHAT, "900") == old, "the old key is kept"
    with pytest.raises(_Undo):  # leased, read, and given back
        async with db.transaction() as tx:
            queued = await inbound_queue.lease_due(tx, "whatsapp", LATER, LATER, 5)
            assert [(q.address, q.payload["Body"]) for q in queued] == [(NUMBER, NAME)]
            due = await outbox.lease_due(tx, LATER, LATER, 5, ["telegram"])
            assert [(d.address, d.payload["replies"][0]["text"]) for d in due] == [(CHAT, f"Terima kasih, {NAME}")]
            raise _Undo
    store = EvidenceStore.for_database(db, evidence)
    assert await store.get(PHOTO_SHA) == PHOTO


async def test_an_old_sqlite_database_is_sealed_in_place(tmp_path: Path) -> None:
    path, evidence = tmp_path / "lapor.db", tmp_path / "evidence"
    _old_sqlite(path, evidence)
    assert _found(path.read_bytes() + Path(f"{path}-wal").read_bytes() if Path(f"{path}-wal").exists()
                  else path.read_bytes()), "the old file holds them (the search is not blind)"
    db = await Database.open(path, key=fixed_key(), evidence=evidence)
    try:
        files = {p: p.read_bytes() for p in [path, Path(f"{path}-wal"), *evidence.rglob("*")] if p.is_file()}
        assert {str(p): _found(data) for p, data in files.items() if _found(data)} == {}
        assert not (evidence / PHOTO_SHA[:2] / PHOTO_SHA).exists(), "the plain file went; its sealed copy is named apart"
        await _reads_as_before(db, evidence)
    finally:
        await db.close()
    again = await Database.open(path, key=fixed_key(), evidence=evidence)  # a second start changes nothing
    try:
        await _reads_as_before(again, evidence)
    finally:
        await again.close()


async def test_an_old_postgresql_database_is_sealed_in_place(postgres_server: Any, tmp_path: Path) -> None:
    with _old_postgres(postgres_server.url()) as url:
        bare, env = _libpq(url)

        def dump() -> bytes:
            return subprocess.run([pg_tool("pg_dump"), "--format=plain", f"--dbname={bare}"], env=env, check=True,
                                  capture_output=True).stdout
        assert set(_found(dump())) == set(NEEDLES), "the old dump shows them (the search is not blind)"
        db = await Database.open(url, key=fixed_key())
        try:
            assert _found(dump()) == []
            await _reads_as_before(db, tmp_path)
            with Backend("postgresql", tmp_path, url).connect() as conn:
                names = [str(r[0]) for r in conn.execute("SELECT name FROM evidence_blobs").fetchall()]
            assert len(names) == 1 and names[0] != PHOTO_SHA, "stored under its keyed name"
        finally:
            await db.close()
