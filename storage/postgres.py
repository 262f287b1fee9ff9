"""The PostgreSQL backend (asyncpg): the same `Database` and `Tx` contract as SQLite.

Write transactions take a connection from one pool, reads from another, so a long read
(`/statistik`, an export) never waits behind the write path and never holds it. Every
statement text is the repositories' own, passed through `storage.dialect.translate`.
Migrations come from `storage/migrations/postgresql/`, numbered like SQLite's, and are
recorded in `schema_migrations`; several workers starting at once apply them once, under
an advisory lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import asyncpg

from storage import dialect
from storage.database import Database, LockHeld, Rows, Statement, migrations

log = logging.getLogger(__name__)

POOL_SIZE = 10
SERVER_SETTINGS = {"timezone": "UTC", "application_name": "lapor-netral"}
_ROWS = re.compile(r"^\s*(?:SELECT|WITH|VALUES|SHOW|TABLE)\b|\bRETURNING\b", re.IGNORECASE | re.DOTALL)


def is_postgres_url(target: object) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


@lru_cache(maxsize=4096)
def _prepared(sql: str) -> tuple[str, bool]:
    text = dialect.translate(sql)
    return text, bool(_ROWS.search(text))


class PgTx:
    """A connection inside an open transaction, with the methods the repositories use."""

    dialect = dialect.POSTGRES
    __slots__ = ("conn",)

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Statement:
        return Statement(functools.partial(self._rows, sql, params))

    async def _rows(self, sql: str, params: Sequence[Any]) -> Rows:
        text, returns_rows = _prepared(sql)
        if returns_rows:
            rows = await self.conn.fetch(text, *params)
            return Rows(rows, len(rows))
        status = await self.conn.execute(text, *params)
        last = status.rsplit(" ", 1)[-1]
        return Rows([], int(last) if last.isdigit() else -1)

    async def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        rows = list(params)
        if rows:
            await self.conn.executemany(_prepared(sql)[0], rows)

    async def execute_fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[asyncpg.Record]:
        return await self.conn.fetch(_prepared(sql)[0], *params)


class PostgresDatabase(Database):
    """The process's handle on a PostgreSQL database, shared with other workers."""

    dialect = dialect.POSTGRES

    def __init__(self, url: str, writes: asyncpg.Pool, reads: asyncpg.Pool) -> None:
        super().__init__(None, None)  # type: ignore[arg-type]
        self.url = url
        self.path = url  # type: ignore[assignment]  # what `Database.open` takes to open it again
        self._writes = writes
        self._reads = reads

    @classmethod
    async def open(cls, path: Any, checkpoint_every: float | None = None,  # type: ignore[override]
                   pool_size: int = POOL_SIZE) -> PostgresDatabase:
        """Connect and migrate. `checkpoint_every` is SQLite's and means nothing here."""
        url = str(path)
        writes = await asyncpg.create_pool(url, min_size=1, max_size=pool_size, server_settings=SERVER_SETTINGS,
                                           statement_cache_size=1024)
        try:
            reads = await asyncpg.create_pool(url, min_size=1, max_size=max(2, pool_size // 2),
                                              server_settings=SERVER_SETTINGS, statement_cache_size=1024)
        except BaseException:
            await writes.close()
            raise
        db = cls(url, writes, reads)
        try:
            await db._migrate()
        except BaseException:
            await db.close()
            raise
        return db

    async def close(self) -> None:
        await self._reads.close()
        await self._writes.close()

    async def _migrate(self) -> None:
        async with self._writes.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", dialect.lock_key("migrations"))
            await conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                               " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
            done = {r[0] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            for number, name, sql in migrations("postgresql", with_names=True):
                if number not in done:
                    await conn.execute(sql)  # the simple protocol runs the whole file
                    await conn.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                                       number, name, datetime.now(UTC).isoformat())

    async def schema_version(self) -> int:
        async with self._reads.acquire() as conn:
            return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations"))

    @asynccontextmanager
    async def transaction(self, quiet: bool = False) -> AsyncIterator[PgTx]:  # type: ignore[override]
        """A write transaction (READ COMMITTED) on a connection of its own: transactions of
        one process run side by side, as those of different workers do. What must not
        interleave takes a lock (`storage.locks`). `quiet`: bookkeeping (a flood counter,
        a chunk of a file) that queues nothing, so the loops waiting for commits sleep on."""
        async with self._writes.acquire() as conn:
            tr = conn.transaction()
            await tr.start()
            try:
                yield PgTx(conn)
            except BaseException:
                with contextlib.suppress(Exception):
                    await tr.rollback()
                raise
            await tr.commit()
        if not quiet:
            for callback in self._on_commit:
                callback()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[PgTx]:  # type: ignore[override]
        """A consistent read-only snapshot on the read pool: it waits for no writer."""
        async with self._reads.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            yield PgTx(conn)

    async def checkpoint_truncate(self, tries: int = 20) -> bool:
        """SQLite's WAL file has no twin here: PostgreSQL's own WAL is the server's, and
        erased rows are gone from what any connection can read at COMMIT."""
        return True

    @asynccontextmanager
    async def job_lock(self, name: str) -> AsyncIterator[bool]:  # type: ignore[override]
        """A session advisory lock on a pool connection for the whole job, the same key as
        `locks.job`'s transaction lock: a job runs in one worker at a time."""
        async with self._writes.acquire() as conn:
            key = dialect.lock_key("job", name)
            mine = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", key))
            try:
                yield mine
            finally:
                if mine:
                    with contextlib.suppress(Exception):
                        await conn.execute("SELECT pg_advisory_unlock($1)", key)

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[asyncio.Event]:
        """A session advisory lock on a connection of its own, held while the block runs;
        the server drops it the moment this process dies. Yields an event set if that
        connection is lost (the lock with it)."""
        conn = await asyncpg.connect(self.url, server_settings=SERVER_SETTINGS)
        lost = asyncio.Event()
        try:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", dialect.lock_key("exclusive", name)):
                raise LockHeld(name)
            conn.add_termination_listener(lambda _conn: lost.set())
            yield lost
        finally:
            with contextlib.suppress(Exception):
                await conn.close()
