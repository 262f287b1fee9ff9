"""The SQLite implementation of the storage contract (`storage/database.py`): one writing
connection per process, a few reading ones beside it, numbered migrations, and explicit
transactions.

The writer runs in autocommit mode so that every write happens inside a
`BEGIN IMMEDIATE` we open ourselves: the write lock is taken up front, which is
what lets two processes share the file without losing or repeating a step. Reads run
on their own aiosqlite connections (WAL lets readers work beside the writer), so a long
`/statistik` never holds up a reporter's step.

The writer's statements run on the event loop's own thread (`InlineTx`). A step's
statements are small indexed lookups and appends that take microseconds, while each
hand-off to a database thread costs a wake-up on both sides: handing them off made a
step's hand-offs cost several times its SQL. Waiting is what must not happen on the
loop, and a writer holding the write lock of a WAL database does not wait: only the
`BEGIN IMMEDIATE` can meet another process's lock, and it is retried asynchronously.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from storage import at_rest, dialect
from storage.at_rest import Opening, run_now
from storage.database import Database, LockHeld, Row, Rows, Statement, migrations
from storage.evidence_files import FileBlobs
from storage.sealing import Keyring

log = logging.getLogger(__name__)


class InlineTx:
    """The writer inside an open transaction, its statements run where they are awaited."""

    dialect = dialect.SQLITE
    __slots__ = ("conn", "keys")

    def __init__(self, conn: sqlite3.Connection, keys: Keyring) -> None:
        self.conn = conn
        self.keys = keys

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Statement:
        return Statement(functools.partial(self._rows, sql, parameters))

    async def _rows(self, sql: str, parameters: Sequence[Any]) -> Rows:
        cur = self.conn.execute(sql, parameters)
        try:
            return Rows(cur.fetchall(), cur.rowcount)
        finally:
            cur.close()

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> None:
        self.conn.executemany(sql, parameters).close()

    async def execute_fetchall(self, sql: str, parameters: Sequence[Any] = (), /) -> Sequence[Row]:
        return await (await self._rows(sql, parameters)).fetchall()


class ReadTx:
    """A reading connection inside its read transaction: each statement is one hand-off
    to the connection's thread (aiosqlite's cursor made three: run, fetch, close)."""

    dialect = dialect.SQLITE
    __slots__ = ("conn", "keys")

    def __init__(self, conn: aiosqlite.Connection, keys: Keyring) -> None:
        self.conn = conn
        self.keys = keys

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Statement:
        return Statement(functools.partial(self._rows, sql, parameters))

    async def _rows(self, sql: str, parameters: Sequence[Any]) -> Rows:
        return Rows(await self.execute_fetchall(sql, parameters), -1)

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> None:
        await self.conn.executemany(sql, parameters)

    async def execute_fetchall(self, sql: str, parameters: Sequence[Any] = (), /) -> Sequence[Row]:
        rows = await self.conn.execute_fetchall(sql, parameters)
        return rows if isinstance(rows, list) else list(rows)  # a list, though aiosqlite promises an Iterable


BUSY_TIMEOUT_MS = 5000
WRITER_BUSY_TIMEOUT_MS = 100
"""Inside a transaction the writer holds the lock and does not wait; should SQLite still
ask it to (a WAL being recovered), it waits this long at most on the loop."""
_BEGIN_RETRY_SECONDS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05)
"""Pauses between tries of `BEGIN IMMEDIATE` while another process writes."""
READERS = 4
"""Reading connections at most (each has its own thread): a slow read holds up only reads,
and only when this many are running at once."""


async def _connect(path: Path) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = aiosqlite.Row
    await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn


def _connect_writer(path: Path) -> sqlite3.Connection:
    """Its busy timeout is set by `SqliteDatabase._prepare_writer`."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    return conn


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY


class SqliteDatabase(Database):
    """The process's handle on the SQLite file.

    Write transactions on the shared connection are serialised by an asyncio lock; across
    processes SQLite's own write lock (with a busy timeout) does the same job. Reads take
    a connection of their own from a small pool and never wait for that lock.
    """

    dialect = dialect.SQLITE

    def __init__(self, writer: sqlite3.Connection, path: Path, opening: Opening, readers: int = READERS) -> None:
        super().__init__()
        self._opening = opening
        self._evidence: Path | None = None
        self.keys = opening.keyring
        self.key_source = opening.source
        self._writer = writer
        self._lock = asyncio.Lock()
        self._idle_readers: list[aiosqlite.Connection] = []
        self._reader_slots = asyncio.Semaphore(readers)
        self._readers: list[aiosqlite.Connection] = []
        self._settings: list[str] = []
        """Per-connection PRAGMAs, for the readers too (they report the same settings)."""
        self._checkpointer: asyncio.Task[None] | None = None
        self.checkpoints = 0
        self.path = path
        self.url = str(path)

    @classmethod
    async def connect(cls, path: Path, checkpoint_every: float | None, opening: Opening,
                      evidence: Path | None = None) -> SqliteDatabase:
        """Open (creating it if needed) and migrate the file; callers use `Database.open`.

        With `checkpoint_every`, WAL checkpoints run on a second connection in the
        background instead of inside whichever COMMIT crosses SQLite's threshold: that
        COMMIT would otherwise stall for tens of milliseconds copying the WAL back.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = await asyncio.to_thread(_connect_writer, path)  # may wait for another process's lock
        db = cls(writer, path, opening)
        db._evidence = evidence
        db._settings = ["PRAGMA synchronous = NORMAL", "PRAGMA foreign_keys = ON",
                        "PRAGMA secure_delete = ON"]  # erased personal data must not linger in free pages
        if checkpoint_every:
            db._settings.append("PRAGMA wal_autocheckpoint = 0")
        try:
            await asyncio.to_thread(db._prepare_writer)
            db.keys = db._opening.keyring  # the key file may have been made while migrating
            if evidence is not None:
                await at_rest.seal_legacy_files(db.blobs(evidence), db.keys, evidence)
        except BaseException:
            writer.close()
            raise
        if checkpoint_every:
            db._checkpointer = asyncio.create_task(db._checkpoint_loop(checkpoint_every))
        return db

    async def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpointer
        for reader in self._readers:
            await reader.close()
        self._readers.clear()
        self._idle_readers.clear()
        await asyncio.to_thread(self._writer.close)  # the last connection to close checkpoints what is left

    async def _checkpoint_loop(self, every: float) -> None:
        """PASSIVE checkpoints never block writers; a failure is logged and retried. A close
        that comes while the connection is still opening waits for it and closes it (else
        its thread outlived the loop)."""
        opening = asyncio.ensure_future(_connect(self.path))
        try:
            conn = await asyncio.shield(opening)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await (await opening).close()
            raise
        try:
            while True:
                await asyncio.sleep(every)
                try:
                    await conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    self.checkpoints += 1
                except sqlite3.Error as exc:
                    log.warning("WAL checkpoint failed: %s", type(exc).__name__)
        finally:
            await conn.close()

    async def schema_version(self) -> int:
        row = self._writer.execute("PRAGMA user_version").fetchone()
        return int(row[0]) if row else 0

    def _prepare_writer(self) -> None:
        """WAL, the settings, the data key checked, and the migrations: at start, off the
        loop (another process may hold the lock a while, and a migration may take a while).
        A key that does not open the database is refused before anything changes; an old
        database sealed in place is rewritten (VACUUM) after the commit, so that no page of
        the file, nor of its -wal, keeps the plain text."""
        conn = self._writer
        opening = self._opening
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        for setting in self._settings:
            conn.execute(setting)
        conn.execute("BEGIN IMMEDIATE")
        try:
            run_now(opening.before_migrations(InlineTx(conn, opening.keyring)))
            row = conn.execute("PRAGMA user_version").fetchone()
            current = int(row[0]) if row else 0
            for number, name, sql in migrations(with_names=True):
                if number > current:
                    for statement in _split_sql(sql):
                        conn.execute(statement)
                    run_now(opening.after_migration(InlineTx(conn, opening.keyring), _stem(name), current > 0))
                    conn.execute(f"PRAGMA user_version = {number}")
            run_now(opening.after_migrations(InlineTx(conn, opening.keyring)))
            if opening.upgraded and self._evidence is not None:
                at_rest.mark_pending(self._evidence)  # before the commit: a crash then seals the files next time
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.execute(f"PRAGMA busy_timeout = {WRITER_BUSY_TIMEOUT_MS}")
        if opening.sealed_in_place:
            log.info("the database's values were sealed in place; rewriting the file (VACUUM)")
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    @asynccontextmanager
    async def transaction(self, quiet: bool = False) -> AsyncIterator[InlineTx]:
        """A write transaction: committed when the block ends, rolled back if it raises
        (or is cancelled: no statement of it is ever left half-way on another thread)."""
        await asyncio.sleep(0)  # statements run on the loop: transactions in a row still let others run between
        async with self._lock:
            await self._begin()
            try:
                if self.keys.due():  # a rotation's new values key, within a second
                    self.keys.refresh(at_rest.key_rows(self._writer.execute(at_rest.SELECT_KEYS).fetchall()))
                yield InlineTx(self._writer, self.keys)
            except BaseException:
                self._end("ROLLBACK")
                raise
            try:
                self._end("COMMIT")
            except Exception:  # a failed COMMIT leaves the transaction open: close it
                with contextlib.suppress(Exception):
                    self._end("ROLLBACK")
                raise
        self._committed(quiet)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[ReadTx]:
        """A consistent read (a deferred transaction that never writes) on a reading
        connection: it sees what was committed when it began and takes no write lock."""
        async with self._reader_slots:
            reader = self._idle_readers.pop() if self._idle_readers else await self._open_reader()
            ended = False
            try:
                await reader.execute("BEGIN")
                try:
                    tx = ReadTx(reader, self.keys)
                    if self.keys.due():
                        self.keys.refresh(at_rest.key_rows(await tx.execute_fetchall(at_rest.SELECT_KEYS)))
                    yield tx
                finally:
                    await reader.execute("ROLLBACK")
                    ended = True
            finally:
                if ended:
                    self._idle_readers.append(reader)
                else:  # cut off midway: its state is unknown
                    await self._discard_reader(reader)

    async def _begin(self) -> None:
        """BEGIN IMMEDIATE without waiting on the loop: while another process holds the
        write lock, try again after a pause, for as long as the busy timeout allows."""
        conn = self._writer
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            waited = 0.0
            for attempt in itertools.count():
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as exc:
                    if not _is_busy(exc) or waited * 1000 >= BUSY_TIMEOUT_MS:
                        raise
                pause = _BEGIN_RETRY_SECONDS[min(attempt, len(_BEGIN_RETRY_SECONDS) - 1)]
                await asyncio.sleep(pause)
                waited += pause
        finally:
            conn.execute(f"PRAGMA busy_timeout = {WRITER_BUSY_TIMEOUT_MS}")

    def _end(self, sql: str) -> None:
        if sql == "ROLLBACK" and not self._writer.in_transaction:
            return  # SQLite already rolled it back (a full disk, an interrupted statement)
        self._writer.execute(sql)

    async def checkpoint_truncate(self, tries: int = 20) -> bool:
        """Copy the WAL into the database and truncate it to zero bytes, so that erased
        values are gone from the `-wal` file too (PASSIVE checkpoints never truncate it).
        Waits for readers of other processes a little; False if it could not finish."""
        conn = await aiosqlite.connect(self.path, isolation_level=None)  # steps go on meanwhile
        try:
            await conn.execute("PRAGMA busy_timeout = 200")
            for attempt in range(tries):
                try:
                    rows = await conn.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)")
                    busy = next(iter(rows))[0] if rows else 1
                except sqlite3.OperationalError:
                    busy = 1
                if not busy:
                    return True
                await asyncio.sleep(0.05 * (attempt + 1))
        finally:
            await conn.close()
        log.warning("WAL could not be truncated after an erasure; the next erasure or clean-up will")
        return False

    async def _open_reader(self) -> aiosqlite.Connection:
        reader = await _connect(self.path)
        for setting in [*self._settings, "PRAGMA query_only = ON"]:
            await reader.execute(setting)
        self._readers.append(reader)
        return reader

    async def _discard_reader(self, reader: aiosqlite.Connection) -> None:
        self._readers.remove(reader)
        with contextlib.suppress(Exception):
            await asyncio.shield(reader.close())

    def blobs(self, root: Path) -> FileBlobs:
        """Files under `root`, beside the database file."""
        return FileBlobs(root)

    @asynccontextmanager
    async def job_lock(self, name: str) -> AsyncIterator[bool]:
        """Whether this process runs the periodic job `name` now (see `storage.locks.job_held`).
        SQLite: always, one process serves the file."""
        yield True

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[asyncio.Event]:
        """Hold a lock no other process can take while the block runs (one poller per
        database): an advisory file lock beside the database, which the system drops
        the moment this process dies. Raises `LockHeld` if another process has it.
        Yields an event that would say the lock was lost (a file lock is not)."""
        try:
            import fcntl
        except ImportError:  # Windows: no advisory file locks; one process per file is up to you
            yield asyncio.Event()
            return
        handle = open(f"{self.path}.{name}.lock", "a+b")  # noqa: SIM115 - held while the block runs
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LockHeld(name) from None
            yield asyncio.Event()
        finally:
            handle.close()


def _stem(name: str) -> str:
    """A migration's name without its number and suffix (`0018_sealed_at_rest.sql`:
    `sealed_at_rest`), which stays when the numbers change."""
    return name.split("_", 1)[1].removesuffix(".sql")


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements; `sqlite3.complete_statement` knows where each ends."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        if not buffer and line.strip().startswith("--"):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        raise RuntimeError(f"incomplete SQL statement in migration: {buffer[:80]!r}")
    return statements
