"""Where a database's schema stands, read without changing anything (`Database.open`
migrates; `python -m bot check` must not)."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from storage.database import is_postgres_url, migrations

CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    current: int | None
    """The applied migration number; None when there is no database yet."""
    latest: int
    """The number this version of the program migrates to."""


class Unreachable(Exception):
    """The database cannot be opened; `reason` is safe to show (no address, no password)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def schema_status(target: str | Path) -> SchemaStatus:
    if is_postgres_url(target):
        return await _postgres(target)
    return await asyncio.to_thread(_sqlite, Path(target))


def _sqlite(path: Path) -> SchemaStatus:
    latest = len(migrations())
    if not path.exists():
        return SchemaStatus(None, latest)
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            tables = int(conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])  # a database at all?
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise Unreachable(f"{type(exc).__name__}: {exc}") from exc
    return SchemaStatus(None if version == 0 and tables == 0 else version, latest)


async def _postgres(url: str) -> SchemaStatus:
    import asyncpg

    latest = len(migrations("postgresql"))
    try:
        conn = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
        raise Unreachable(type(exc).__name__) from exc
    try:
        present = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
        if not present:
            return SchemaStatus(None, latest)
        current = await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations")
    except asyncpg.PostgresError as exc:
        raise Unreachable(type(exc).__name__) from exc
    finally:
        await conn.close()
    return SchemaStatus(int(current), latest)
