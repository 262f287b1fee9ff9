"""The PostgreSQL implementation of the storage contract (`storage/database.py`), with
asyncpg, for several workers on one database; evidence bytes live in it too
(`PostgresBlobs`).

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
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from storage import dialect
from storage.database import Database, LockHeld, Row, Rows, Statement, migrations
from storage.evidence_files import CHUNK_BYTES

log = logging.getLogger(__name__)

POOL_SIZE = 10
SERVER_SETTINGS = {"timezone": "UTC", "application_name": "lapor-netral"}
_ROWS = re.compile(r"^\s*(?:SELECT|WITH|VALUES|SHOW|TABLE)\b|\bRETURNING\b", re.IGNORECASE | re.DOTALL)


@lru_cache(maxsize=4096)
def _prepared(sql: str) -> tuple[str, bool]:
    text = dialect.translate(sql)
    return text, bool(_ROWS.search(text))


class PgTx:
    """A connection inside an open transaction, with the methods the repositories use."""

    dialect = dialect.POSTGRES
    __slots__ = ("conn",)

    def __init__(self, conn: PoolConnectionProxy[asyncpg.Record]) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Statement:
        return Statement(functools.partial(self._rows, sql, params))

    async def _rows(self, sql: str, params: Sequence[Any]) -> Rows:
        text, returns_rows = _prepared(sql)
        if returns_rows:
            rows = await self.conn.fetch(text, *params)
            return Rows(rows, len(rows))
        status = await self.conn.execute(text, *params)
        last = status.rsplit(" ", 1)[-1]
        return Rows([], int(last) if last.isdecimal() else -1)

    async def executemany(self, sql: str, params: Iterable[Sequence[Any]], /) -> None:
        rows = list(params)
        if rows:
            await self.conn.executemany(_prepared(sql)[0], rows)

    async def execute_fetchall(self, sql: str, params: Sequence[Any] = (), /) -> Sequence[Row]:
        return await self.conn.fetch(_prepared(sql)[0], *params)


class PostgresDatabase(Database):
    """The process's handle on a PostgreSQL database, shared with other workers."""

    dialect = dialect.POSTGRES

    def __init__(self, url: str, writes: asyncpg.Pool, reads: asyncpg.Pool) -> None:
        super().__init__()
        self.url = url
        self._writes = writes
        self._reads = reads

    @classmethod
    async def connect(cls, url: str, pool_size: int = POOL_SIZE) -> PostgresDatabase:
        """Connect and migrate; callers use `Database.open`."""
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
    async def transaction(self, quiet: bool = False) -> AsyncIterator[PgTx]:
        """A write transaction (READ COMMITTED) on a connection of its own: transactions of
        one process run side by side, as those of different workers do. What must not
        interleave takes a lock (`storage.locks`)."""
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
        self._committed(quiet)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[PgTx]:
        """A consistent read-only snapshot on the read pool: it waits for no writer."""
        async with self._reads.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            yield PgTx(conn)

    async def checkpoint_truncate(self, tries: int = 20) -> bool:
        """SQLite's WAL file has no twin here: PostgreSQL's own WAL is the server's, and
        erased rows are gone from what any connection can read at COMMIT."""
        return True

    def blobs(self, root: Path) -> PostgresBlobs:
        """In the database itself, so every worker reaches every file (`root` is not used)."""
        return PostgresBlobs(self)

    @asynccontextmanager
    async def job_lock(self, name: str) -> AsyncIterator[bool]:
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


class PostgresBlobs:
    """Chunks in PostgreSQL: each chunk its own short insert (no transaction held open
    while a file arrives), named in `evidence_blobs` once the whole file is there."""

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db

    async def exists(self, sha256: str) -> bool:
        async with self.db.reading() as tx:
            rows = await tx.execute_fetchall("SELECT 1 FROM evidence_blobs WHERE sha256 = ?", (sha256,))
        return bool(rows)

    def writer(self) -> _PostgresWriter:
        return _PostgresWriter(self.db)

    async def chunks(self, sha256: str) -> AsyncIterator[bytes]:
        async with self.db.reading() as tx:
            rows = await tx.execute_fetchall(
                "SELECT b.upload, count(c.seq) FROM evidence_blobs AS b LEFT JOIN evidence_chunks AS c"
                " ON c.upload = b.upload WHERE b.sha256 = ? GROUP BY b.upload", (sha256,))
        if not rows:
            return
        upload, count = rows[0][0], int(rows[0][1])
        for seq in range(count):  # one chunk in memory at a time
            async with self.db.reading() as tx:
                part = await tx.execute_fetchall("SELECT data FROM evidence_chunks WHERE upload = ? AND seq = ?",
                                                 (upload, seq))
            if part:
                yield bytes(part[0][0])

    async def delete(self, sha256: str, written_before: datetime | None = None) -> bool:
        async with self.db.transaction() as tx:
            if written_before is None:
                rows = await tx.execute_fetchall("DELETE FROM evidence_blobs WHERE sha256 = ? RETURNING upload",
                                                 (sha256,))
            else:  # not if another worker stored it again meanwhile
                rows = await tx.execute_fetchall("DELETE FROM evidence_blobs WHERE sha256 = ? AND created_at < ?"
                                                 " RETURNING upload", (sha256, _iso(written_before)))
            if rows:
                await tx.execute("DELETE FROM evidence_chunks WHERE upload = ?", (rows[0][0],))
        return bool(rows)

    async def written_before(self, before: datetime) -> list[str]:
        async with self.db.reading() as tx:
            rows = await tx.execute_fetchall("SELECT sha256 FROM evidence_blobs WHERE created_at < ?",
                                             (_iso(before),))
        return [str(r[0]) for r in rows]

    async def listing(self) -> AsyncIterator[tuple[str, int]]:
        last = ""
        while True:
            async with self.db.reading() as tx:
                rows = await tx.execute_fetchall(
                    "SELECT sha256, size FROM evidence_blobs WHERE sha256 > ? ORDER BY sha256 LIMIT 1000", (last,))
            if not rows:
                return
            for row in rows:
                yield str(row[0]), int(row[1])
            last = str(rows[-1][0])

    async def sweep_incomplete(self, before: datetime) -> int:
        async with self.db.transaction(quiet=True) as tx:
            rows = await tx.execute_fetchall(
                "WITH gone AS (DELETE FROM evidence_chunks AS c WHERE c.written_at < ? AND NOT EXISTS"
                " (SELECT 1 FROM evidence_blobs AS b WHERE b.upload = c.upload) RETURNING c.upload)"
                " SELECT count(DISTINCT upload) FROM gone", (_iso(before),))
        return int(rows[0][0])


class _PostgresWriter:
    """Rows of CHUNK_BYTES each (the last one shorter), whatever sizes the pieces come in."""

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db
        self.upload = uuid.uuid4()
        self.seq = 0
        self._buffer = bytearray()

    async def write(self, chunk: bytes) -> None:
        self._buffer += chunk
        while len(self._buffer) >= CHUNK_BYTES:
            await self._insert(bytes(self._buffer[:CHUNK_BYTES]))
            del self._buffer[:CHUNK_BYTES]

    async def _insert(self, data: bytes) -> None:
        async with self.db.transaction(quiet=True) as tx:
            await tx.execute("INSERT INTO evidence_chunks (upload, seq, data, written_at) VALUES (?, ?, ?, ?)",
                             (self.upload, self.seq, data, _now()))
        self.seq += 1

    async def commit(self, sha256: str, size: int) -> None:
        """Name the chunks; if the file is there already (another worker stored it), ours go
        and the stored one is fresh again."""
        if self._buffer:
            await self._insert(bytes(self._buffer))
            self._buffer.clear()
        async with self.db.transaction() as tx:
            async with tx.execute("INSERT INTO evidence_blobs (sha256, upload, size, created_at) VALUES (?, ?, ?, ?)"
                                  " ON CONFLICT (sha256) DO NOTHING", (sha256, self.upload, size, _now())) as cur:
                named = cur.rowcount == 1
            if not named:
                await tx.execute("DELETE FROM evidence_chunks WHERE upload = ?", (self.upload,))
                await tx.execute("UPDATE evidence_blobs SET created_at = ? WHERE sha256 = ?", (_now(), sha256))

    async def abort(self) -> None:
        async with self.db.transaction(quiet=True) as tx:
            await tx.execute("DELETE FROM evidence_chunks WHERE upload = ?", (self.upload,))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _now() -> str:
    return datetime.now(UTC).isoformat()
