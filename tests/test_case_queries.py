"""Issue 14: case times compared as stored (UTC), the indexes every staff query needs, the
daily counts behind /statistik, and a duplicate-evidence check that stays bounded.

Speed itself is measured by bench/case_scale.py; here the query plans are checked, which
say whether a query reads an index range or the whole table, whatever the machine."""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.case import lifecycle
from flows.engine import Engine
from flows.policy import Policy
from storage import Database, cases, outbox
from storage.case_queries import CaseFilter, count_matching, counts, daily_counts, same_evidence, search
from storage.cases import NewCase, NewEvidence
from storage.database import migrations
from storage.sqlite import _split_sql
from tests.backends import Backend, fixed_key
from tests.chat import HAPPY_PATH, Chat

POLICY = Policy(moderator_chat_id=-100999)


def new_case(number: str, reporter_id: int, created_at: str, *, region: str = "51.71", status_type: str = "media_sosial",
             sha256: str | None = None) -> tuple[NewCase, list[NewEvidence]]:
    case = NewCase(
        number=number, reporter_id=reporter_id, channel="test", locale="id", region_code=region,
        province_code=region.split(".")[0], agency_group="pemda", agency_unit="sekolah", agency_name="SMPN 1",
        person_name="Budi", person_position=None, person_status="pns", incident_type=status_type,
        occurred_on="2024-11-19", learned_on="2024-11-19", place="Ruang guru", latitude=None, longitude=None,
        description="Kepala sekolah mengunggah ajakan memilih paslon 2 di grup WhatsApp guru.", witnesses=None,
        identity_mode="anonim", reporter_name=None, reporter_phone=None, consent_at=created_at, created_at=created_at)
    evidence = [NewEvidence("photo", f"ref-{number}", None, "image/jpeg", 1000, sha256, None)] if sha256 else []
    return case, evidence


async def add_reporter(tx: object, address: str) -> int:
    from storage import reporters

    return await reporters.upsert(tx, "test", address, "id", "2024-11-01T00:00:00+00:00")  # type: ignore[arg-type]


def old_database(path: Path) -> sqlite3.Connection:
    """A database as migrations 1 to 5 left it, before times were normalised."""
    conn = sqlite3.connect(path, isolation_level=None)
    for number, sql in migrations():
        if number > 5:
            break
        for statement in _split_sql(sql):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {number}")
    return conn


OLD_CASES = {
    "LN-24-AAAA1": ("2024-11-27T06:30:00.250000+07:00", "2024-11-27T06:30:00.250000+07:00"),  # 26 Nov UTC
    "LN-24-AAAA2": ("2024-11-27T08:00:00+07:00", "2024-11-28T01:00:00+00:00"),  # 27 Nov UTC
    "LN-24-AAAA3": ("2024-11-27T23:59:59", "2024-11-27T23:59:59"),  # no offset: UTC
    "LN-24-AAAA4": ("2024-11-28T00:00:00-05:00", "2024-11-28T00:00:00-05:00"),  # 28 Nov 05:00 UTC
}
_OLD_CASE = ("INSERT INTO cases (number, reporter_id, channel, locale, region_code, province_code, agency_group,"
             " person_status, incident_type, occurred_on, learned_on, place, description, identity_mode, consent_at,"
             " created_at, updated_at, routed_at) VALUES (?, 1, 'test', 'id', '51.71', '51', 'pemda', 'pns',"
             " 'media_sosial', '2024-11-19', '2024-11-19', 'x', ?, 'anonim', ?, ?, ?, ?)")


@contextlib.contextmanager
def old_postgres(server: Any) -> Iterator[str]:
    """A PostgreSQL database as its migrations 1 to 5 left it, with the same old rows."""
    import psycopg

    from storage.database import migrations
    from tests.backends import _psycopg_dsn, _psycopg_sql

    name = f"old_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_psycopg_dsn(server.url()), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        with psycopg.connect(_psycopg_dsn(server.url(name)), autocommit=True) as conn:
            conn.execute("SET timezone = 'UTC'")
            conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                         " applied_at TEXT NOT NULL)")
            for number, file_name, sql in migrations("postgresql", with_names=True):
                if number > 5:
                    break
                conn.execute(sql)
                conn.execute("INSERT INTO schema_migrations VALUES (%s, %s, '2024-11-01')", (number, file_name))
            conn.execute("INSERT INTO reporters (id, channel, address, created_at) VALUES (1, 'test', 'a', '2024-11-01')")
            for number, (created, updated) in OLD_CASES.items():
                conn.execute(_psycopg_sql(_OLD_CASE), (number, "x" * 40, created, created, updated, created))
        yield server.url(name)
    finally:
        with psycopg.connect(_psycopg_dsn(server.url()), autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def old_install(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path | str]:
    """An installation as migrations 1 to 5 left it, with cases written at mixed offsets."""
    if request.param == "postgresql":
        with old_postgres(request.getfixturevalue("postgres_server")) as url:
            yield url
        return
    path = tmp_path / "lapor.db"
    conn = old_database(path)
    conn.execute("INSERT INTO reporters (id, channel, address, created_at) VALUES (1, 'test', 'a', '2024-11-01')")
    for number, (created, updated) in OLD_CASES.items():
        conn.execute(_OLD_CASE, (number, "x" * 40, created, created, updated, created))
    conn.close()
    yield path


async def test_migration_turns_mixed_offsets_into_utc_and_the_filters_agree(old_install: Path | str) -> None:
    """Before: reporters' cases were stored at +07:00 and staff changes in UTC, and the
    filters wrapped every row in datetime() to compare them. After the migration every
    case time is UTC text and a plain comparison gives the same answers (on PostgreSQL
    too: its twin of 0010 converts with PL/pgSQL and fills the daily counts the same way)."""
    await _check_migrated(old_install, OLD_CASES)


async def _check_migrated(path: Path | str, stored: dict[str, tuple[str, str]]) -> None:
    db = await Database.open(path, key=fixed_key())  # an old installation: sealed in place too
    try:
        async with db.reading() as tx:
            rows = await tx.execute_fetchall("SELECT number, created_at, updated_at, routed_at FROM cases ORDER BY id")
            for number, created, updated, routed in rows:
                want_created, want_updated = stored[number]
                assert created.endswith("+00:00") and updated.endswith("+00:00") and routed.endswith("+00:00")
                as_utc = datetime.fromisoformat(want_created)
                as_utc = as_utc if as_utc.tzinfo else as_utc.replace(tzinfo=UTC)
                assert datetime.fromisoformat(created) == as_utc, number
                assert created == as_utc.astimezone(UTC).isoformat(), "the same text Python writes"
            day = CaseFilter(since="2024-11-27", until="2024-11-28")
            assert {c.number for c in (await search(tx, day, 10, 0))[0]} == {"LN-24-AAAA2", "LN-24-AAAA3"}
            assert await count_matching(tx, CaseFilter(since="2024-11-27T01:00:00+00:00")) == 3
            assert await count_matching(tx, CaseFilter(until="2024-11-27T08:00:00+07:00")) == 1
            by_day = await daily_counts(tx, "2024-11-26", "2024-11-29")
            assert by_day.total == 4 and by_day.by_region == [("51.71", 4)]
            assert (await daily_counts(tx, "2024-11-27", "2024-11-28")).total == 2
    finally:
        await db.close()


async def test_new_cases_and_status_changes_are_stored_in_utc(backend: Backend) -> None:
    engine = Engine(await backend.open(), policy=POLICY)
    try:
        await Chat(engine).run(*HAPPY_PATH, "@send")  # the chat's clock is +07:00
        async with engine.db.transaction() as tx:
            case = (await cases.recent(tx, 1))[0]
            assert case.created_at == "2024-11-21T03:07:40+00:00"
            await lifecycle.force_status(tx, POLICY, case, "diterima", lifecycle.Actor("t:1", "M"),
                                         "2024-11-22T10:00:00+07:00")
            after = await cases.get(tx, case.id)
        assert after is not None and after.updated_at == "2024-11-22T03:00:00+00:00"
    finally:
        await engine.db.close()


def _plan(conn: sqlite3.Connection, sql: str, params: tuple[object, ...]) -> list[str]:
    return [str(row[3]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]


def _reads_whole_table(plan: list[str]) -> bool:
    """A plain `SCAN c` (or `SCAN cases`) walks every case; a search or a scan of a
    covering index does not."""
    return any(step.startswith("SCAN") and "INDEX" not in step for step in plan)


FILTERS = [
    CaseFilter(status="diteruskan"),
    CaseFilter(region_code="51"),
    CaseFilter(region_code="51.71"),
    CaseFilter(incident_type="media_sosial"),
    CaseFilter(since="2024-11-01", until="2024-12-01"),
    CaseFilter(status="diterima", region_code="51"),
    CaseFilter(status="diterima", incident_type="media_sosial", since="2024-11-01"),
    CaseFilter(region_code="51.71", since="2024-11-01", until="2024-11-08"),
    CaseFilter(chat_id=-100100),
    CaseFilter(chat_id=-100100, status="diteruskan", since="2024-11-01"),
]


async def test_every_staff_query_reads_an_index_not_the_whole_table(tmp_path: Path) -> None:
    """Before: `datetime(c.created_at)` in the filters and the retention query, and the
    deadline checks filtering every unaccepted case row by row."""
    path = tmp_path / "lapor.db"
    await (await Database.open(path)).close()
    conn = sqlite3.connect(path)
    try:
        for where in FILTERS:
            sql, params = where.where()
            count_plan = _plan(conn, f"SELECT count(*) FROM {where.tables()}{sql}", tuple(params))
            page_plan = _plan(conn, f"SELECT c.* FROM {where.tables()}{sql} ORDER BY c.created_at DESC, c.id DESC"
                              " LIMIT 10", tuple(params))
            assert not _reads_whole_table(count_plan), (where, count_plan)
            assert not _reads_whole_table(page_plan), (where, page_plan)
            if where.chat_id is None:
                assert not any("TEMP B-TREE FOR ORDER BY" in step for step in page_plan), (where, page_plan)
        for column, index in (("reminded_at", "cases_due_reminder"), ("escalated_at", "cases_due_escalation")):
            plan = _plan(conn, f"SELECT id FROM cases INDEXED BY {index} WHERE {column} IS NULL"
                         " AND status IN ('baru', 'menunggu_rute', 'diteruskan', 'bukan_kewenangan')"
                         " AND routed_at <= ? ORDER BY routed_at LIMIT 100", ("x",))
            assert any(index in step for step in plan) and not _reads_whole_table(plan), plan
        plan = _plan(conn, "SELECT id FROM cases INDEXED BY cases_retention WHERE status IN ('selesai', 'ditolak')"
                     " AND updated_at < ?"
                     " AND (reporter_name IS NOT NULL OR reporter_phone IS NOT NULL) ORDER BY updated_at LIMIT 500",
                     ("x",))
        assert any("cases_retention" in step for step in plan), plan
        plan = _plan(conn, "SELECT dimension, value, sum(n) FROM case_counts WHERE day >= ? AND day < ?"
                     " GROUP BY dimension, value", ("a", "b"))
        assert not _reads_whole_table(plan), plan
    finally:
        conn.close()


async def test_daily_counts_follow_every_insert_and_status_change(backend: Backend) -> None:
    """The triggers keep /statistik's counts equal to counting the cases themselves."""
    db = await backend.open()
    try:
        start = datetime(2024, 11, 1, 20, 0, tzinfo=UTC)
        async with db.transaction() as tx:
            reporter = await add_reporter(tx, "r")
            for n in range(40):
                case, evidence = new_case(f"LN-24-B{n:04d}", reporter, (start + timedelta(hours=7 * n)).isoformat(),
                                          region=("51.71", "51.03", "32.73")[n % 3],
                                          status_type=("media_sosial", "alat_peraga")[n % 2])
                await cases.insert(tx, case, evidence)
            for case in (await cases.recent(tx, 15)):
                await lifecycle.force_status(tx, POLICY, case, ("diterima", "selesai", "ditolak")[case.id % 3],
                                             lifecycle.Actor("t:1", "M"), "2024-11-30T00:00:00+00:00", note="x")
        async with db.reading() as tx:
            for since, until in (("2024-11-01", "2024-11-08"), ("2024-11-03", "2024-11-04"), ("2024-10-01", "2025-01-01")):
                kept = await daily_counts(tx, since, until)
                counted = await counts(tx, CaseFilter(since=since, until=until))
                assert kept == counted, (since, until)
            assert (await daily_counts(tx, "2024-10-01", "2025-01-01")).total == 40
    finally:
        await db.close()


async def test_a_file_shared_by_many_cases_names_the_newest_few_and_counts_the_rest(backend: Backend) -> None:
    """Before: the flag collected and listed every earlier case with the same file, so one
    popular image made each submit O(N) and the alert one endless line."""
    engine = Engine(await backend.open(), policy=POLICY)
    db = engine.db
    try:
        first = Chat(engine, address="first")
        await first.run(*HAPPY_PATH, "@send")
        async with db.transaction() as tx:
            popular = (await cases.evidence_of(tx, (await cases.recent(tx, 1))[0].id))[0].sha256
            reporter = await add_reporter(tx, "many")
            for n in range(150):
                case, evidence = new_case(f"LN-24-C{n:04d}", reporter, "2024-11-20T00:00:00+00:00", sha256=popular)
                await cases.insert(tx, case, evidence)
        await Chat(engine, address="second").run(*HAPPY_PATH, "@send")
        async with db.reading() as tx:
            newest = (await cases.recent(tx, 1))[0]
            flag = next(e for e in await cases.events_of(tx, newest.id) if e.kind == "possible_duplicate")
            alerts = [str(d.payload) for d in await outbox.of_case(tx, newest.id) if d.address == "-100999"]
            found = await same_evidence(tx, newest.id)
        assert found.newest == [f"LN-24-C{n:04d}" for n in range(149, 144, -1)]
        assert found.total == 100 and found.capped, "counted up to the cap, not every match"
        assert flag.note is not None and flag.note.count("LN-") == 5 and "+" in flag.note
        duplicate = [a for a in alerts if "LN-24-C0149" in a]
        assert len(duplicate) == 1 and "100+" in duplicate[0] and duplicate[0].count("LN-24-C0") == 5
    finally:
        await db.close()


async def test_a_few_matches_are_all_named(backend: Backend) -> None:
    db = await backend.open()
    try:
        async with db.transaction() as tx:
            reporter = await add_reporter(tx, "r")
            for n in range(3):
                case, evidence = new_case(f"LN-24-D{n:04d}", reporter, "2024-11-20T00:00:00+00:00", sha256="f" * 64)
                await cases.insert(tx, case, evidence)
            last = (await cases.recent(tx, 1))[0]
            found = await same_evidence(tx, last.id)
        assert found.newest == ["LN-24-D0001", "LN-24-D0000"] and found.total == 2 and not found.capped
    finally:
        await db.close()
