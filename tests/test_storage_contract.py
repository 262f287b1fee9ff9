"""The contract between the two backends (`storage/database.py`): one test class runs
against both implementations, as aiogram tests its FSM storages; every SQLite migration
has its PostgreSQL twin, the two schemas have the same tables and columns, and the SQL
text the repositories write means the same on both."""

from __future__ import annotations

import ast
import asyncio
import hashlib
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage import Database, dialect
from storage.database import LockHeld, fetch_one, is_postgres_url, migrations, savepoint
from storage.evidence_files import CHUNK_BYTES
from storage.postgres import PostgresDatabase
from storage.sqlite import SqliteDatabase
from tests.backends import Backend

ROOT = Path(__file__).resolve().parent.parent

POSTGRES_ONLY = {"schema_migrations", "evidence_chunks", "evidence_blobs", "flood_windows"}
"""What only PostgreSQL needs: its migration log, evidence bytes (files on SQLite), the
flood windows several workers share (memory on SQLite)."""


def test_every_sqlite_migration_has_a_postgresql_twin_with_the_same_number() -> None:
    sqlite_side = migrations(with_names=True)
    postgres_side = {number: name for number, name, _sql in migrations("postgresql", with_names=True)}
    missing = [name for number, name, _sql in sqlite_side if number not in postgres_side]
    assert not missing, f"write storage/migrations/postgresql/ twins for {missing}"
    assert sorted(postgres_side) == [n for n, _name, _sql in sqlite_side], "no PostgreSQL migration without a twin"
    for number, name, _sql in sqlite_side:
        assert postgres_side[number] == name, f"twin of {name} is named {postgres_side[number]}"


async def test_both_schemas_have_the_same_tables_and_columns(tmp_path: Path,
                                                             postgres_server: object) -> None:
    db = await Database.open(tmp_path / "lapor.db")
    await db.close()
    with sqlite3.connect(tmp_path / "lapor.db") as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                                             " AND name NOT LIKE 'sqlite_%'")]
        sqlite_schema = {t: {r[1] for r in conn.execute(f"PRAGMA table_info({t})")} for t in tables}
    from tests.conftest import TEMPLATE

    postgres = Backend("postgresql", tmp_path, postgres_server.url(TEMPLATE))  # type: ignore[attr-defined]
    with postgres.connect() as conn:
        rows = conn.execute("SELECT table_name, column_name FROM information_schema.columns"
                            " WHERE table_schema = 'public'").fetchall()
    postgres_schema: dict[str, set[str]] = {}
    for table, column in rows:
        postgres_schema.setdefault(table, set()).add(column)
    for table in POSTGRES_ONLY:
        postgres_schema.pop(table, None)
    assert postgres_schema == sqlite_schema


@pytest.mark.parametrize(("sqlite_sql", "postgres_sql"), [
    ("SELECT a FROM t WHERE b = ? AND c IN (?, ?)", "SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)"),
    ("SELECT '?' || ? FROM t -- why?\nWHERE x = ?", "SELECT '?' || $1 FROM t -- why?\nWHERE x = $2"),
    ("SELECT 'it''s ?' FROM t WHERE x = ?", "SELECT 'it''s ?' FROM t WHERE x = $1"),
    ("INSERT INTO m (a, b) VALUES (?, ?) ON CONFLICT (a) DO NOTHING",
     "INSERT INTO m (a, b) VALUES ($1, $2) ON CONFLICT (a) DO NOTHING"),
    ("INSERT INTO m (a) VALUES (?) ON CONFLICT (a) DO UPDATE SET b = excluded.b RETURNING id",
     "INSERT INTO m (a) VALUES ($1) ON CONFLICT (a) DO UPDATE SET b = excluded.b RETURNING id"),
])
def test_only_placeholders_are_translated_for_postgresql(sqlite_sql: str, postgres_sql: str) -> None:
    assert dialect.translate(sqlite_sql) == postgres_sql


@pytest.mark.parametrize("sql", [
    "INSERT OR IGNORE INTO m (a, b) VALUES (?, ?)",
    "insert or ignore into m (a) values (?)",
    "UPDATE OR IGNORE routes SET chat_id = ? WHERE chat_id = ?",
    "INSERT OR REPLACE INTO m (a) VALUES (?)",
    "REPLACE INTO m (a) VALUES (?)",
    "PRAGMA user_version",
    "SELECT julianday(created_at) FROM cases",
])
def test_sqlite_only_sql_fails_loudly_on_postgresql(sql: str) -> None:
    with pytest.raises(dialect.UnsupportedSql, match="both dialects accept"):
        dialect.translate(sql)


def _sqlite_only_sql_in(source: str, name: str) -> list[str]:
    """Every string in the module (SQL included, and the parts of f-strings) that holds one
    of SQLite's conflict clauses, as `name:line: text`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and dialect.SQLITE_ONLY_CONFLICTS.search(node.value):
            found.append(f"{name}:{node.lineno}: {node.value.strip()[:80]!r}")
    return found


def test_no_code_writes_sqlite_only_conflict_clauses() -> None:
    """`INSERT OR IGNORE`, `INSERT OR REPLACE` and their kin pass on SQLite and fail on
    PostgreSQL: this fails in either half (and in a run on SQLite alone) the moment one is
    written again. Write `INSERT ... ON CONFLICT (key) DO NOTHING` or `DO UPDATE SET ...`
    (README, "Two dialects, one set of SQL")."""
    found = [hit for package in ("storage", "flows", "bot", "cleaning")
             for path in sorted((ROOT / package).rglob("*.py"))
             for hit in _sqlite_only_sql_in(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]
    assert not found, "SQLite-only SQL (write ON CONFLICT ... DO NOTHING / DO UPDATE):\n" + "\n".join(found)


@pytest.mark.parametrize("sql", [
    '"INSERT OR IGNORE INTO moderators (user_id) VALUES (?)"',
    '"INSERT OR IGNORE INTO moderators (user_id)"\n        " VALUES (?)"',
    'f"INSERT OR REPLACE INTO {table} (a) VALUES (?)"',
    '"""\n    REPLACE INTO m (a) VALUES (?)"""',
])
def test_the_source_check_finds_the_clause_however_the_string_is_written(sql: str) -> None:
    source = f"async def add(tx):\n    await tx.execute(\n        {sql})\n"
    assert len(_sqlite_only_sql_in(source, "probe.py")) == 1
    assert not _sqlite_only_sql_in(source.replace(" OR IGNORE", "").replace(" OR REPLACE", "")
                                   .replace("REPLACE INTO", "INSERT INTO"), "probe.py")


async def test_a_restart_applies_no_migration_twice(backend: Backend) -> None:
    db = await backend.open()
    version = await db.schema_version()
    await db.close()
    again = await backend.open()
    assert await again.schema_version() == version == len(migrations())
    await again.close()
    if backend.postgres:
        with backend.connect() as conn:
            logged = conn.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
        assert logged == [(n, name) for n, name, _sql in migrations("postgresql", with_names=True)]


async def test_workers_starting_together_migrate_once(backend: Backend, postgres_server: object) -> None:
    """Several workers opening a new, empty database at once (the advisory lock)."""
    if not backend.postgres:
        pytest.skip("PostgreSQL's migration lock")
    import asyncio
    import uuid

    import psycopg

    from tests.backends import _psycopg_dsn, fixed_key

    name = f"fresh_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_psycopg_dsn(postgres_server.url()), autocommit=True) as admin:  # type: ignore[attr-defined]
        admin.execute(f"CREATE DATABASE {name}")
    try:
        url = postgres_server.url(name)  # type: ignore[attr-defined]
        opened = await asyncio.gather(*(Database.open(url, key=fixed_key()) for _ in range(4)))
        assert [await db.schema_version() for db in opened] == [len(migrations())] * 4
        for db in opened:
            await db.close()
    finally:
        with psycopg.connect(_psycopg_dsn(postgres_server.url()), autocommit=True) as admin:  # type: ignore[attr-defined]
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


# --- the contract, run against both implementations ------------------------------------------

PROBE = ("CREATE TABLE probe (k TEXT PRIMARY KEY, code TEXT UNIQUE, n INTEGER NOT NULL DEFAULT 0,"
         " note TEXT)")


@pytest.fixture
async def db(backend: Backend) -> AsyncIterator[Database]:
    """The backend's database with a table of the test's own."""
    opened = await backend.open()
    async with opened.transaction() as tx:
        await tx.execute(PROBE)
    try:
        yield opened
    finally:
        await opened.close()


async def probe_rows(db: Database) -> list[tuple[object, ...]]:
    async with db.reading() as tx:
        return [tuple(r) for r in await tx.execute_fetchall("SELECT k, n, note FROM probe ORDER BY k")]


class TestDatabaseContract:
    """What `storage/database.py` promises, on SQLite and on PostgreSQL alike (the
    `backend` fixture runs every test once on each)."""

    async def test_open_picks_the_implementation_from_the_target(self, backend: Backend, db: Database) -> None:
        assert isinstance(db, PostgresDatabase if backend.postgres else SqliteDatabase)
        assert is_postgres_url(str(backend.target)) == backend.postgres
        assert db.dialect.name == backend.kind
        again = await Database.open(db.url, key=backend.key)  # `url` opens the same database again
        try:
            assert type(again) is type(db)
            async with again.reading() as tx:
                assert await fetch_one(tx, "SELECT count(*) FROM probe") is not None
        finally:
            await again.close()

    async def test_a_transaction_commits_when_the_block_ends_and_undoes_everything_if_it_raises(
            self, db: Database) -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO probe (k, n) VALUES (?, ?)", ("a", 1))
        with pytest.raises(RuntimeError, match="midway"):
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO probe (k, n) VALUES (?, ?)", ("b", 2))
                await tx.execute("UPDATE probe SET n = 10 WHERE k = ?", ("a",))
                raise RuntimeError("midway")
        assert await probe_rows(db) == [("a", 1, None)]

    async def test_a_cancelled_transaction_is_rolled_back_and_the_database_stays_usable(self, db: Database) -> None:
        started = asyncio.Event()

        async def slow() -> None:
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO probe (k) VALUES (?)", ("gone",))
                started.set()
                await asyncio.sleep(30)

        task = asyncio.create_task(slow())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO probe (k) VALUES (?)", ("kept",))
        assert await probe_rows(db) == [("kept", 0, None)]

    async def test_statements_are_awaited_or_used_as_cursors_and_rows_read_by_position_or_name(
            self, db: Database) -> None:
        async with db.transaction() as tx:
            assert tx.dialect is db.dialect
            await tx.executemany("INSERT INTO probe (k, n, note) VALUES (?, ?, ?)",
                                 [("a", 1, "x"), ("b", 2, None), ("c", 3, "it's ? here")])
            async with tx.execute("UPDATE probe SET n = n + 10 WHERE n >= ?", (2,)) as cur:
                assert cur.rowcount == 2
            async with tx.execute("SELECT k, n FROM probe WHERE k = ?", ("b",)) as cur:
                row = await cur.fetchone()
                assert row is not None and row[0] == "b" and row["n"] == 12 and tuple(row) == ("b", 12)
            async with tx.execute("SELECT k FROM probe ORDER BY k") as cur:
                assert [r[0] async for r in cur] == ["a", "b", "c"]
            rows = await tx.execute_fetchall("SELECT note FROM probe WHERE note LIKE ? ORDER BY k", ("%?%",))
            assert [r["note"] for r in rows] == ["it's ? here"]
            assert await fetch_one(tx, "SELECT k FROM probe WHERE k = ?", ("zz",)) is None
            returned = await tx.execute_fetchall("DELETE FROM probe WHERE k = ? RETURNING n", ("c",))
            assert [r[0] for r in returned] == [13]

    async def test_an_upsert_written_once_means_the_same_on_both(self, db: Database) -> None:
        """The SQL both dialects accept in place of `INSERT OR IGNORE` / `INSERT OR REPLACE`."""
        ignore = "INSERT INTO probe (k, n) VALUES (?, ?) ON CONFLICT (k) DO NOTHING"
        upsert = ("INSERT INTO probe (k, n, note) VALUES (?, ?, ?)"
                  " ON CONFLICT (k) DO UPDATE SET n = probe.n + excluded.n, note = excluded.note")
        async with db.transaction() as tx:
            async with tx.execute(ignore, ("a", 1)) as cur:
                assert cur.rowcount == 1
            async with tx.execute(ignore, ("a", 5)) as cur:
                assert cur.rowcount == 0, "the second insert of a key does nothing"
            await tx.execute(upsert, ("a", 2, "second"))
            await tx.execute(upsert, ("b", 7, "new"))
            kept = await tx.execute_fetchall(
                "INSERT INTO probe (k, n) VALUES (?, ?) ON CONFLICT (k) DO NOTHING RETURNING k", ("b", 0))
            assert list(kept) == [], "nothing inserted, nothing returned"
        assert await probe_rows(db) == [("a", 3, "second"), ("b", 7, "new")]

    async def test_a_unique_violation_is_told_apart_and_a_savepoint_keeps_the_rest(self, db: Database) -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO probe (k, code) VALUES (?, ?)", ("a", "LN-1"))
            with pytest.raises(Exception) as caught:
                async with savepoint(tx):
                    await tx.execute("INSERT INTO probe (k, code) VALUES (?, ?)", ("b", "LN-1"))
            assert tx.dialect.is_unique_violation(caught.value, "probe", "code")
            assert not tx.dialect.is_unique_violation(caught.value, "probe", "note")
            await tx.execute("INSERT INTO probe (k, code) VALUES (?, ?)", ("c", "LN-2"))  # the transaction goes on
        assert [r[0] for r in await probe_rows(db)] == ["a", "c"]

    async def test_a_read_sees_one_snapshot_and_never_waits_for_a_writer(self, db: Database) -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO probe (k) VALUES (?)", ("a",))
        async with db.reading() as read:
            assert (await read.execute_fetchall("SELECT count(*) FROM probe"))[0][0] == 1
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO probe (k) VALUES (?)", ("b",))
                # a write in progress: not seen, and the read does not wait for it
                assert (await asyncio.wait_for(read.execute_fetchall("SELECT count(*) FROM probe"), 5))[0][0] == 1
            assert (await read.execute_fetchall("SELECT count(*) FROM probe"))[0][0] == 1, "committed after it began"
        async with db.reading() as read:
            assert (await read.execute_fetchall("SELECT count(*) FROM probe"))[0][0] == 2

    async def test_a_read_cannot_write(self, db: Database) -> None:
        import asyncpg

        with pytest.raises((sqlite3.OperationalError, asyncpg.ReadOnlySQLTransactionError)):
            async with db.reading() as tx:
                await tx.execute("INSERT INTO probe (k) VALUES (?)", ("a",))
        assert await probe_rows(db) == []

    async def test_commits_wake_the_listeners_unless_quiet(self, db: Database) -> None:
        woken: list[int] = []

        def listener() -> None:
            woken.append(1)

        db.on_commit(listener)
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO probe (k) VALUES (?)", ("a",))
        async with db.transaction(quiet=True) as tx:
            await tx.execute("INSERT INTO probe (k) VALUES (?)", ("b",))
        with pytest.raises(RuntimeError):
            async with db.transaction() as tx:
                raise RuntimeError("rolled back: nothing to wake up for")
        db.remove_on_commit(listener)
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO probe (k) VALUES (?)", ("c",))
        assert woken == [1]

    async def test_one_holder_of_an_exclusive_lock_and_of_a_job(self, backend: Backend, db: Database) -> None:
        other = await backend.open()
        try:
            async with db.exclusive("probe") as lost:
                with pytest.raises(LockHeld):
                    async with other.exclusive("probe"):
                        pass
                assert not lost.is_set()
            async with other.exclusive("probe"):
                pass
            async with db.job_lock("probe") as mine:
                assert mine
                async with other.job_lock("probe") as theirs:
                    assert theirs is (not backend.postgres), "SQLite: one process serves the file"
        finally:
            await other.close()

    async def test_the_schema_is_migrated_once_and_erasures_can_be_flushed(self, db: Database) -> None:
        assert await db.schema_version() == len(migrations())
        assert await db.checkpoint_truncate()

    async def test_evidence_bytes_are_stored_whole_named_by_their_hash_or_not_at_all(
            self, backend: Backend, db: Database) -> None:
        blobs = db.blobs(backend.evidence_dir)
        data = bytes(range(256)) * (CHUNK_BYTES // 256 * 2 + 7)  # two full chunks and a short one
        sha = hashlib.sha256(data).hexdigest()
        dropped = blobs.writer()
        await dropped.write(b"half a file")
        await dropped.abort()
        writer = blobs.writer()
        for start in range(0, len(data), 300_000):
            await writer.write(data[start:start + 300_000])
        assert not await blobs.exists(sha), "named only when complete"
        await writer.commit(sha, len(data))
        assert await blobs.exists(sha)
        assert b"".join([c async for c in blobs.chunks(sha)]) == data
        assert [entry async for entry in blobs.listing()] == [(sha, len(data))]
        later = datetime.now(UTC) + timedelta(minutes=1)
        assert await blobs.written_before(later) == [sha]
        assert await blobs.sweep_incomplete(later) == 0, "the aborted writer left nothing"
        assert await blobs.delete(sha, written_before=datetime.now(UTC) - timedelta(minutes=1)) is False
        assert await blobs.delete(sha)
        assert not await blobs.exists(sha) and [c async for c in blobs.chunks(sha)] == []


def test_the_contract_is_abstract_and_neither_implementation_builds_on_the_other() -> None:
    with pytest.raises(TypeError):
        Database()  # type: ignore[abstract]  # the point: it cannot be made
    assert issubclass(SqliteDatabase, Database) and issubclass(PostgresDatabase, Database)
    assert not issubclass(PostgresDatabase, SqliteDatabase) and not issubclass(SqliteDatabase, PostgresDatabase)
