"""Locks that make several workers on one database behave as one process.

Inside a transaction: a conversation's steps run one at a time (`conversations`), and a
periodic job runs in one worker at a time (`job`). On SQLite both are no-ops: its single
writer (`BEGIN IMMEDIATE`) already serialises everything. Held for a whole process:
`Database.exclusive` (one poller).
"""

from __future__ import annotations

from storage import dialect
from storage.database import Tx


async def conversations(tx: Tx, keys: list[tuple[str, str]]) -> None:
    """Until this transaction ends, no other worker steps these (channel, address)
    conversations; take it before reading their state or their processed updates."""
    await dialect.of(tx).lock_conversations(tx, keys)


async def job(tx: Tx, name: str) -> bool:
    """Whether this transaction is the one that runs job `name` now; False: another
    worker is running it, skip this round."""
    return await dialect.of(tx).try_job_lock(tx, name)
