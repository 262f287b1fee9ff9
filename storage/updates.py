"""The record of inbound updates already processed, so a redelivery changes nothing."""

from __future__ import annotations

from storage.database import Tx, among, utc


async def count(tx: Tx) -> int:
    async with tx.execute("SELECT count(*) FROM processed_updates") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def processed_among(tx: Tx, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these (channel, update_id) pairs were processed before, in one query."""
    if not keys:
        return set()
    condition, params = among(tx, ("channel", "update_id"), keys)
    rows = await tx.execute_fetchall(f"SELECT channel, update_id FROM processed_updates WHERE {condition}", params)
    return {(row[0], row[1]) for row in rows}


async def claim(tx: Tx, channel: str, update_id: str, at: str) -> bool:
    """Record one update as processed; False if it already was. On PostgreSQL a second
    worker claiming the same update waits for the first one's commit, then gets False."""
    async with tx.execute("INSERT INTO processed_updates (channel, update_id, processed_at)"
                          " VALUES (?, ?, ?) ON CONFLICT (channel, update_id) DO NOTHING", (channel, update_id, at)) as cur:
        return cur.rowcount == 1


async def claim_many(tx: Tx, rows: list[tuple[str, str, str]]) -> None:
    """Record (channel, update_id, processed_at) rows as processed (the time in UTC, so that
    the retention clean-up can compare it as stored)."""
    if not rows:
        return
    await tx.executemany(
        "INSERT INTO processed_updates (channel, update_id, processed_at) VALUES (?, ?, ?)"
        " ON CONFLICT (channel, update_id) DO NOTHING",
        [(channel, update_id, _utc_or_as_is(at)) for channel, update_id, at in rows]
    )


def _utc_or_as_is(at: str) -> str:
    try:
        return utc(at)
    except ValueError:
        return at
