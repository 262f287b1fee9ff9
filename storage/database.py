"""THE STORAGE CONTRACT: what the rest of the service may ask of a database, whichever
backend holds it.

Two implementations stand side by side, neither built on the other: `storage/sqlite.py`
(the SQLite file, one process) and `storage/postgres.py` (PostgreSQL, any number of
workers). `Database.open(target)` is the one way in; it picks the implementation from the
target. A `Tx` is a connection inside an open transaction: repository functions take one
and write one SQL text for both (how: README, "Two dialects, one set of SQL"); what
differs between the dialects is the `Dialect` the transaction carries
(`storage/dialect.py`). `Blobs` is where a database keeps evidence bytes. The helpers at
the end (`fetch_one`, `among`, `utc`, `savepoint`) are what repositories share.

Values that must not be readable on disk (issue 24: sealing identifiers) belong beside
this module, in `storage/` alone: a module that seals and opens values, whose key
`Database.open` would take and each `Tx` carry as it carries its dialect, applied where a
repository describes its table (its column list and row dataclass), so that `flows/` and
`bot/` keep handling plain values.
"""

from __future__ import annotations

import asyncio
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, TypeGuard, overload

if TYPE_CHECKING:
    from storage.dialect import Dialect

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def is_postgres_url(target: object) -> TypeGuard[str]:
    """Whether `target` names a PostgreSQL database (anything else is the SQLite file)."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


class Row(Protocol):
    """A result row, by position or by column name (`sqlite3.Row`, `asyncpg.Record`)."""

    @overload
    def __getitem__(self, key: str, /) -> Any: ...

    @overload
    def __getitem__(self, key: int, /) -> Any: ...

    @overload
    def __getitem__(self, key: slice, /) -> tuple[Any, ...]: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...


class Rows:
    """What `tx.execute` gives back, fetched at once: the rows and `rowcount`, as a cursor."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: Sequence[Row], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    async def fetchone(self) -> Row | None:
        return self._rows[0] if self._rows else None

    async def fetchall(self) -> Sequence[Row]:
        return self._rows

    def __aiter__(self) -> AsyncIterator[Row]:
        async def rows() -> AsyncIterator[Row]:
            for row in self._rows:
                yield row
        return rows()


class Statement:
    """`await tx.execute(...)` and `async with tx.execute(...) as cur` both work, as with
    aiosqlite; the rows are fetched at once (`Rows`)."""

    __slots__ = ("_run",)

    def __init__(self, run: Callable[[], Awaitable[Rows]]) -> None:
        self._run = run

    def __await__(self) -> Generator[Any, None, Rows]:
        return self._run().__await__()

    async def __aenter__(self) -> Rows:
        return await self._run()

    async def __aexit__(self, *exc: object) -> None:
        return None


class Tx(Protocol):
    """A connection inside an open transaction; repository functions take one.
    `execute` is awaited, or used as `async with tx.execute(...) as cur` (`cur.fetchone()`,
    `cur.fetchall()`, `cur.rowcount`). Placeholders are `?`, whatever the backend."""

    @property
    def dialect(self) -> Dialect: ...

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Statement: ...

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> None: ...

    async def execute_fetchall(self, sql: str, parameters: Sequence[Any] = ..., /) -> Sequence[Row]: ...


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
    """Where a database keeps evidence bytes, named by SHA-256 (`storage.evidence_files`
    builds the store on it)."""

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


class Database(ABC):
    """The process's handle on its database: write transactions, consistent reads beside
    them, and what several processes on one database need (locks, commit wake-ups)."""

    dialect: ClassVar[Dialect]
    url: str
    """What `Database.open` takes to open this database again."""

    def __init__(self) -> None:
        self._on_commit: list[Callable[[], None]] = []

    @staticmethod
    async def open(target: Path | str, *, checkpoint_every: float | None = 1.0) -> Database:
        """Open (creating and migrating it if needed) the database `target` names: a
        `postgresql://` URL is PostgreSQL, anything else the SQLite file at that path.
        `checkpoint_every`: SQLite's WAL checkpoints run in the background every so many
        seconds (None: inside the COMMIT that crosses SQLite's threshold, for short-lived
        tools); PostgreSQL's server checkpoints on its own."""
        if is_postgres_url(target):
            from storage.postgres import PostgresDatabase

            return await PostgresDatabase.connect(str(target))
        from storage.sqlite import SqliteDatabase

        return await SqliteDatabase.connect(Path(target), checkpoint_every)

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    def transaction(self, quiet: bool = False) -> AbstractAsyncContextManager[Tx]:
        """A write transaction: committed when the block ends, rolled back if it raises (or
        is cancelled). `quiet`: bookkeeping (a flood counter, a chunk of a file) that queues
        nothing, so the loops waiting for commits (`on_commit`) sleep on."""

    @abstractmethod
    def reading(self) -> AbstractAsyncContextManager[Tx]:
        """A consistent read that never writes: it sees what was committed when it began,
        and never waits behind a write transaction or holds one up."""

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` after every committed write transaction (the delivery worker
        wakes up this way instead of polling the outbox)."""
        self._on_commit.append(callback)

    def remove_on_commit(self, callback: Callable[[], None]) -> None:
        if callback in self._on_commit:
            self._on_commit.remove(callback)

    def _committed(self, quiet: bool) -> None:
        if not quiet:
            for callback in self._on_commit:
                callback()

    @abstractmethod
    async def schema_version(self) -> int:
        """The number of the last migration applied."""

    @abstractmethod
    async def checkpoint_truncate(self, tries: int = 20) -> bool:
        """After an erasure: make sure erased values are gone from files beside the database
        too (SQLite's `-wal`). False if it could not finish (the next erasure or clean-up will)."""

    @abstractmethod
    def job_lock(self, name: str) -> AbstractAsyncContextManager[bool]:
        """Whether this process runs the periodic job `name` now, for the whole block
        (`storage.locks.job_held`)."""

    @abstractmethod
    def exclusive(self, name: str) -> AbstractAsyncContextManager[asyncio.Event]:
        """Hold a lock no other process on this database can take while the block runs (one
        poller per database), dropped the moment this process dies. Raises `LockHeld` if
        another process has it. Yields an event set if the lock is lost."""

    @abstractmethod
    def blobs(self, root: Path) -> Blobs:
        """Where this database keeps evidence bytes: files under `root`, or the database itself."""


@overload
def migrations(folder: str | None = None, with_names: Literal[False] = False) -> list[tuple[int, str]]: ...


@overload
def migrations(folder: str | None, with_names: Literal[True]) -> list[tuple[int, str, str]]: ...


@overload
def migrations(*, with_names: Literal[True]) -> list[tuple[int, str, str]]: ...


def migrations(folder: str | None = None, with_names: bool = False) -> list[tuple[int, str]] | list[tuple[int, str, str]]:
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


async def fetch_one(tx: Tx, sql: str, params: Sequence[Any] = ()) -> Row | None:
    """One row in a single round trip (execute, fetch and close)."""
    rows = await tx.execute_fetchall(sql, params)
    return rows[0] if rows else None


def among(tx: Tx, columns: tuple[str, str], keys: Iterable[tuple[str, str]]) -> tuple[str, list[str]]:
    """The condition that `columns` is one of these key pairs (`Dialect.among`), and its parameters."""
    keys = list(keys)
    return tx.dialect.among(columns, len(keys)), [v for key in keys for v in key]
