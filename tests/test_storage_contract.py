"""The contract between the two backends: every SQLite migration has its PostgreSQL twin,
the two schemas have the same tables and columns, and the SQL text the repositories
write means the same on both."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from storage import Database, dialect
from storage.database import migrations
from tests.backends import Backend

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
    ("INSERT OR IGNORE INTO m (a, b) VALUES (?, ?)", "INSERT INTO m (a, b) VALUES ($1, $2) ON CONFLICT DO NOTHING"),
    ("INSERT OR IGNORE INTO m (a) VALUES (?) RETURNING id", "INSERT INTO m (a) VALUES ($1) ON CONFLICT DO NOTHING RETURNING id"),
])
def test_sql_is_translated_for_postgresql(sqlite_sql: str, postgres_sql: str) -> None:
    assert dialect.translate(sqlite_sql) == postgres_sql


@pytest.mark.parametrize("sql", [
    "UPDATE OR IGNORE routes SET chat_id = ? WHERE chat_id = ?",
    "INSERT OR REPLACE INTO m (a) VALUES (?)",
    "PRAGMA user_version",
    "SELECT julianday(created_at) FROM cases",
])
def test_sqlite_only_sql_fails_loudly_on_postgresql(sql: str) -> None:
    with pytest.raises(dialect.UnsupportedSql):
        dialect.translate(sql)


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

    from tests.backends import _psycopg_dsn

    name = f"fresh_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_psycopg_dsn(postgres_server.url()), autocommit=True) as admin:  # type: ignore[attr-defined]
        admin.execute(f"CREATE DATABASE {name}")
    try:
        url = postgres_server.url(name)  # type: ignore[attr-defined]
        opened = await asyncio.gather(*(Database.open(url) for _ in range(4)))
        assert [await db.schema_version() for db in opened] == [len(migrations())] * 4
        for db in opened:
            await db.close()
    finally:
        with psycopg.connect(_psycopg_dsn(postgres_server.url()), autocommit=True) as admin:  # type: ignore[attr-defined]
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
