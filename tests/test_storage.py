"""The database file: pragmas, migrations, and what a reopen does."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

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
    await asyncio.sleep(0.3)
    assert db.checkpoints > 0
    wal = tmp_path / "lapor.db-wal"
    other = sqlite3.connect(tmp_path / "lapor.db")  # everything written so far is checkpointed
    busy, frames, done = other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    other.close()
    assert busy == 0 and frames == done
    await db.close()
    assert not wal.exists() or wal.stat().st_size == 0
