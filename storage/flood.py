"""The flood gate's window when several workers share a PostgreSQL database: each sender's
latest message times in one row, updated in one statement, so every worker counts the
same minute. (With SQLite there is one process, and the gate lives in its memory.)"""

from __future__ import annotations

from datetime import datetime

from storage.database import Database
from storage.sealing import Table

FLOOD_WINDOWS = Table("flood_windows", key=("channel", "address"), hashed={"address": None}, only="postgresql")


async def hit(db: Database, channel: str, address: str, at: datetime, keep: int) -> int:
    """Record a message at `at`; returns how many this sender sent in the minute up to it,
    counting at most `keep` (the gate needs to tell "at the limit", "one over", "more")."""
    async with db.transaction(quiet=True) as tx:  # PostgreSQL only (its table)
        async with tx.execute(
            "INSERT INTO flood_windows AS f (channel, address, times) VALUES (?, ?, ARRAY[?::timestamptz])"
            " ON CONFLICT (channel, address) DO UPDATE SET times = (SELECT coalesce(array_agg(t ORDER BY t), '{}')"
            "  FROM (SELECT t FROM unnest(f.times || excluded.times) AS t WHERE t > excluded.times[1] - interval '1 minute'"
            "        ORDER BY t DESC LIMIT ?) AS recent)"
            " RETURNING cardinality(times)", (channel, FLOOD_WINDOWS.lookup(tx, address), at, keep)
        ) as cur:
            row = await cur.fetchone()
    return int(row[0]) if row else 1


async def recent(db: Database, channel: str, address: str, at: datetime) -> int:
    """How many messages this sender sent in the minute before `at` (nothing is recorded)."""
    async with db.reading() as tx:
        rows = await tx.execute_fetchall(
            "SELECT count(*) FROM flood_windows AS f, unnest(f.times) AS t"
            " WHERE f.channel = ? AND f.address = ? AND t > ?::timestamptz - interval '1 minute'",
            (channel, FLOOD_WINDOWS.lookup(tx, address), at))
    return int(rows[0][0]) if rows else 0
