"""Locks that make several workers on one database behave as one process.

Inside a transaction: a conversation's steps run one at a time (`conversations`), and a
periodic job runs in one worker at a time (`job`). On SQLite both are no-ops: its single
writer (`BEGIN IMMEDIATE`) already serialises everything. Held for a whole process:
`Database.exclusive` (one poller). Held for a job of many short transactions
(retention): `job_held`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from storage import dialect
from storage.database import Database, Tx


async def conversations(tx: Tx, keys: list[tuple[str, str]]) -> None:
    """Until this transaction ends, no other worker steps these (channel, address)
    conversations; take it before reading their state or their processed updates."""
    await dialect.of(tx).lock_conversations(tx, keys)


async def job(tx: Tx, name: str) -> bool:
    """Whether this transaction is the one that runs job `name` now; False: another
    worker is running it, skip this round."""
    return await dialect.of(tx).try_job_lock(tx, name)


@asynccontextmanager
async def job_held(db: Database, name: str) -> AsyncIterator[bool]:
    """`job` for a job of many transactions: whether this worker runs job `name` now,
    for the whole block (False: another worker is running it, skip this round)."""
    async with db.job_lock(name) as mine:
        yield mine
