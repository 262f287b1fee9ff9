"""The record of inbound updates already processed, so a redelivery changes nothing."""

from __future__ import annotations

from storage.database import Tx


async def claim(tx: Tx, channel: str, update_id: str, at: str) -> bool:
    """Record the update as processed; False when it was processed before."""
    cur = await tx.execute(
        "INSERT OR IGNORE INTO processed_updates (channel, update_id, processed_at) VALUES (?, ?, ?)",
        (channel, update_id, at),
    )
    return cur.rowcount == 1


async def count(tx: Tx) -> int:
    async with tx.execute("SELECT count(*) FROM processed_updates") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0
