"""The database file: pragmas, migrations, and what a reopen does."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from storage import Database, updates
from storage.database import migrations


async def test_migrations_pragmas_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "lapor.db"
    db = await Database.open(path)
    assert await db.schema_version() == len(migrations())
    async with db.reading() as tx:
        async with tx.execute("PRAGMA journal_mode") as cur:
            assert (await cur.fetchone())[0] == "wal"
        async with tx.execute("PRAGMA foreign_keys") as cur:
            assert (await cur.fetchone())[0] == 1
        async with tx.execute("PRAGMA busy_timeout") as cur:
            assert (await cur.fetchone())[0] >= 1000
    await db.close()
    again = await Database.open(path)  # a second start applies nothing twice
    assert await again.schema_version() == len(migrations())
    await again.close()
    tables = {row[0] for row in sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"reporters", "conversations", "cases", "evidence", "case_events", "processed_updates",
            "consents"} <= tables


async def test_database_directory_is_created(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "nested" / "dir" / "lapor.db")
    await db.close()
    assert (tmp_path / "nested" / "dir" / "lapor.db").exists()


async def test_checkpoints_run_in_the_background_not_in_commits(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "lapor.db", checkpoint_every=0.05)
    async with db.reading() as tx:
        async with tx.execute("PRAGMA wal_autocheckpoint") as cur:
            assert (await cur.fetchone())[0] == 0
    for n in range(300):
        async with db.transaction() as tx:
            await updates.claim_many(tx, [("test", str(n), "now")])
    for _ in range(1000):  # the background checkpoints (every 0.05 s) come, however slow the machine
        if db.checkpoints:
            break
        await asyncio.sleep(0.01)
    assert db.checkpoints > 0
    wal = tmp_path / "lapor.db-wal"
    other = sqlite3.connect(tmp_path / "lapor.db")  # everything written so far is checkpointed
    busy, frames, done = other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    other.close()
    assert busy == 0 and frames == done
    await db.close()
    assert not wal.exists() or wal.stat().st_size == 0


def _count_handoffs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on (until `monkeypatch.undo()`), every call handed to an aiosqlite thread."""
    import aiosqlite

    handoffs: list[str] = []
    real = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: object, *args: object, **kwargs: object) -> object:
        handoffs.append(str(args[0])[:40] if args else getattr(fn, "__name__", "?"))
        return await real(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return handoffs


async def test_a_step_hands_no_statement_to_a_database_thread(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 14, engine latency: each hand-off to aiosqlite's thread costs a wake-up on
    both sides, and a step made 8 of them (a submit 51): several times its SQL, the most
    of its latency. The writer's statements now run where they are awaited."""
    from flows.engine import Engine
    from flows.events import Inbound
    from tests.chat import HAPPY_PATH, parse

    db = await Database.open(tmp_path / "lapor.db", checkpoint_every=None)
    engine = Engine(db)
    handoffs = _count_handoffs(monkeypatch)
    try:
        at = datetime(2024, 11, 21, 10, 0, tzinfo=UTC)
        for number, line in enumerate([*HAPPY_PATH, "@send"]):
            handled = await engine.handle(Inbound("test", "r1", str(number), parse(line), at, "id"))
            assert handled.replies, line
        assert handled.case_number
        assert handoffs == []
    finally:
        monkeypatch.undo()
        await db.close()


async def test_the_writer_waits_for_another_process_without_holding_up_the_loop(tmp_path: Path) -> None:
    """While another process holds the write lock, BEGIN is tried again after pauses: the
    loop goes on meanwhile (replies, reads), and the transaction runs once the lock is
    free."""
    db = await Database.open(tmp_path / "lapor.db", checkpoint_every=None)
    other = sqlite3.connect(tmp_path / "lapor.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        ticks = 0
        wrote = asyncio.Event()

        async def write() -> None:
            async with db.transaction() as tx:
                await updates.claim_many(tx, [("test", "u1", "now")])
            wrote.set()

        writing = asyncio.create_task(write())
        while ticks < 20:
            await asyncio.sleep(0.005)
            ticks += 1
        assert not wrote.is_set()  # still waiting for the lock, and the loop ran all along
        async with db.reading() as tx:  # reads go on too
            assert await updates.processed_among(tx, [("test", "u1")]) == set()
        other.execute("COMMIT")
        await asyncio.wait_for(writing, 5)
        async with db.reading() as tx:
            assert await updates.processed_among(tx, [("test", "u1")]) == {("test", "u1")}
    finally:
        other.close()
        await db.close()


async def test_a_lock_held_past_the_busy_timeout_fails_the_transaction_and_nothing_else(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from storage import sqlite

    monkeypatch.setattr(sqlite, "BUSY_TIMEOUT_MS", 100)
    db = await Database.open(tmp_path / "lapor.db", checkpoint_every=None)
    other = sqlite3.connect(tmp_path / "lapor.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            async with db.transaction() as tx:
                await updates.claim_many(tx, [("test", "u1", "now")])
        other.execute("COMMIT")
        async with db.transaction() as tx:  # the writer is usable again
            await updates.claim_many(tx, [("test", "u2", "now")])
        async with db.reading() as tx:
            assert await updates.processed_among(tx, [("test", "u1"), ("test", "u2")]) == {("test", "u2")}
    finally:
        other.close()
        await db.close()


async def test_transactions_in_a_row_let_other_tasks_run_between_them(tmp_path: Path) -> None:
    """The writer's statements run on the loop, so a job writing chunk after chunk (the
    retention sweep) would hold the loop until its last chunk without a turn between."""
    db = await Database.open(tmp_path / "lapor.db", checkpoint_every=None)
    turns = 0
    done = False

    async def other_task() -> None:
        nonlocal turns
        while not done:
            turns += 1
            await asyncio.sleep(0)

    try:
        ticker = asyncio.create_task(other_task())
        await asyncio.sleep(0)
        before = turns
        for n in range(50):
            async with db.transaction() as tx:
                await updates.claim_many(tx, [("test", str(n), "now")])
        done = True
        await ticker
        assert turns - before >= 50
    finally:
        await db.close()


async def test_a_read_is_one_hand_off_per_statement(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """aiosqlite's cursor made three (run, fetch, close) for every `async with tx.execute`."""
    db = await Database.open(tmp_path / "lapor.db", checkpoint_every=None)
    async with db.transaction() as tx:
        await updates.claim_many(tx, [("test", str(n), "now") for n in range(3)])
    try:
        async with db.reading() as tx:
            handoffs = _count_handoffs(monkeypatch)
            async with tx.execute("SELECT update_id FROM processed_updates ORDER BY update_id") as cur:
                assert [r[0] for r in await cur.fetchall()] == ["0", "1", "2"]
            async with tx.execute("SELECT count(*) FROM processed_updates") as cur:
                assert (await cur.fetchone())[0] == 3
            assert [r[0] async for r in await tx.execute("SELECT update_id FROM processed_updates")] == ["0", "1", "2"]
            monkeypatch.undo()
        assert len(handoffs) == 3
    finally:
        monkeypatch.undo()
        await db.close()


async def test_a_steps_look_ups_search_an_index_however_large_the_tables(tmp_path: Path) -> None:
    """Regression: `(channel, update_id) IN (VALUES ...)` made SQLite read every processed
    update, every reporter and every conversation on every batch of steps, so a step cost
    more the longer the service ran (15% of the engine's CPU after 23,000 steps)."""
    from storage import conversations, reporters
    from storage.sqlite import InlineTx

    path = tmp_path / "lapor.db"
    await (await Database.open(path, checkpoint_every=None)).close()
    conn = sqlite3.connect(path, isolation_level=None)
    statements: list[str] = []
    try:
        conn.set_trace_callback(statements.append)  # each statement with its values
        tx = InlineTx(conn)
        keys = [("telegram", "101"), ("whatsapp", "+6281200000001"), ("telegram", "102")]
        await updates.processed_among(tx, keys)
        await conversations.load_many(tx, keys)
        await reporters.blocked_among(tx, keys)
        await reporters.last_consent_among(tx, keys)
        conn.set_trace_callback(None)
        assert len(statements) == 4
        for sql in statements:
            plan = [str(row[3]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
            assert not [step for step in plan if step.startswith("SCAN")], (sql, plan)
    finally:
        conn.close()


async def test_a_database_closed_at_once_closes_the_connection_it_was_opening(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A shell command opens the database and closes it at once. Closing cancelled the WAL
    checkpointer while its connection was still opening: that connection was left to the
    garbage collector, and when its thread answered after the process's loop had closed,
    "Exception in thread ... Event loop is closed" followed the command's one line (2 runs
    in 60 of `routes remove` under load; 0 in 120 since). Here the checkpointer's connection
    is held opened-but-not-returned until the close has begun, so the close meets it every
    time, and must close it itself."""
    from storage import sqlite

    opened, release = asyncio.Event(), asyncio.Event()
    closed: list[bool] = []
    real_connect = sqlite._connect

    async def held_connect(path: Path) -> object:
        conn = await real_connect(path)
        real_close = conn.close

        async def close() -> None:
            closed.append(True)
            await real_close()

        conn.close = close  # type: ignore[method-assign]
        opened.set()
        await release.wait()
        return conn

    db = await sqlite.SqliteDatabase.connect(tmp_path / "lapor.db", checkpoint_every=1.0)
    monkeypatch.setattr(sqlite, "_connect", held_connect)  # only the checkpointer connects after this
    await opened.wait()
    closing = asyncio.create_task(db.close())
    await asyncio.sleep(0.05)  # the close has cancelled the checkpointer mid-open
    release.set()
    await closing
    assert closed == [True], "the connection being opened is closed by the close, not left behind"
