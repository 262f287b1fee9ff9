"""The storage contract: what the repositories and the rest of the service use of a
database, whichever backend holds it (`storage/sqlite.py`, `storage/postgres.py`).

A `Tx` is a connection inside an open transaction; repository functions take one.
`Blobs` is where evidence bytes live. The helpers below (`fetch_one`, `among`, `utc`,
`savepoint`) are what repositories share.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib import resources
from typing import Any, Protocol

from storage import dialect

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class Tx(Protocol):
    """A connection inside an open transaction; repository functions take one. An
    aiosqlite connection is one as it is; PostgreSQL's is `storage.postgres.PgTx`.
    `execute` is awaited, or used as `async with tx.execute(...) as cur` (`cur.fetchone()`,
    `cur.fetchall()`, `cur.rowcount`)."""

    def execute(self, sql: str, parameters: Any = ...) -> Any: ...

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> Any: ...

    async def execute_fetchall(self, sql: str, parameters: Any = ...) -> Iterable[Any]: ...


class Rows:
    """What `tx.execute` gives back, fetched at once: the rows and `rowcount`, as a cursor."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    async def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    async def fetchall(self) -> list[Any]:
        return self._rows

    def __aiter__(self) -> AsyncIterator[Any]:
        async def rows() -> AsyncIterator[Any]:
            for row in self._rows:
                yield row
        return rows()


class Statement:
    """`await tx.execute(...)` and `async with tx.execute(...) as cur` both work, as with
    aiosqlite; the rows are fetched at once (`Rows`)."""

    __slots__ = ("_run",)

    def __init__(self, run: Callable[[], Awaitable[Rows]]) -> None:
        self._run = run

    def __await__(self) -> Any:
        return self._run().__await__()

    async def __aenter__(self) -> Rows:
        return await self._run()

    async def __aexit__(self, *exc: object) -> None:
        return None


class LockHeld(Exception):
    """Another process holds this exclusive lock (a second poller, for instance)."""


class BlobWriter(Protocol):
    """Bytes written in pieces, then named by their SHA-256 (or thrown away)."""

    async def write(self, chunk: bytes) -> None: ...

    async def commit(self, sha256: str, size: int) -> None:
        """Name the bytes; if the file is already there, it is marked fresh again (the
        orphan sweep's grace period starts over) and these bytes go."""
        ...

    async def abort(self) -> None: ...


class Blobs(Protocol):
    async def exists(self, sha256: str) -> bool: ...

    def writer(self) -> BlobWriter: ...

    def chunks(self, sha256: str) -> AsyncIterator[bytes]:
        """The bytes in pieces (nothing if the file is not here)."""
        ...

    async def delete(self, sha256: str, written_before: datetime | None = None) -> bool:
        """Delete the file (only if last written before `written_before`, when given)."""
        ...

    async def written_before(self, before: datetime) -> list[str]:
        """The files last written before `before`: candidates for the orphan sweep."""
        ...

    def listing(self) -> AsyncIterator[tuple[str, int]]:
        """Every stored (sha256, size): for moving an installation and checking it."""
        ...

    async def sweep_incomplete(self, before: datetime) -> int:
        """Remove what writers that died left before `before` (never named); returns how many."""
        ...


def migrations(folder: str | None = None, with_names: bool = False) -> list[Any]:
    """The numbered SQL files shipped in `storage/migrations` (SQLite's) or in one of its
    folders (`postgresql`), in order: (number, sql), or (number, file name, sql)."""
    found: list[tuple[int, str, str]] = []
    root = resources.files("storage.migrations")
    for entry in (root / folder if folder else root).iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    numbers = [n for n, _, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise RuntimeError(f"migration numbers must be 1..N without gaps, got {numbers}")
    return found if with_names else [(n, sql) for n, _, sql in found]


@asynccontextmanager
async def savepoint(tx: Tx, enabled: bool = True) -> AsyncIterator[None]:
    """Undo just this block's writes if it raises, keeping the rest of the transaction."""
    if not enabled:
        yield
        return
    await tx.execute("SAVEPOINT block")
    try:
        yield
    except BaseException:
        await tx.execute("ROLLBACK TO block")
        await tx.execute("RELEASE block")
        raise
    await tx.execute("RELEASE block")


def utc(at: str) -> str:
    """An ISO timestamp in UTC. Columns compared as text (due times, deadlines) must all
    be in one zone, whatever zone the caller's clock used."""
    moment = datetime.fromisoformat(at)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


async def fetch_one(tx: Tx, sql: str, params: tuple[object, ...] = ()) -> sqlite3.Row | None:
    """One row in a single round trip to the database thread (execute, fetch and close)."""
    rows = await tx.execute_fetchall(sql, params)
    return next(iter(rows), None)  # type: ignore[return-value]


def among(tx: Tx, columns: tuple[str, str], keys: Iterable[tuple[str, str]]) -> tuple[str, list[str]]:
    """The condition that `columns` is one of these key pairs (`Dialect.among`), and its parameters."""
    keys = list(keys)
    return dialect.of(tx).among(columns, len(keys)), [v for key in keys for v in key]
