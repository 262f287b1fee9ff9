"""Moderators (admins come from configuration, not from the database)."""

from __future__ import annotations

from storage.database import Tx, fetch_one


async def is_moderator(tx: Tx, user_id: int) -> bool:
    return await fetch_one(tx, "SELECT 1 FROM moderators WHERE user_id = ?", (user_id,)) is not None


async def add_moderator(tx: Tx, user_id: int, by: str, at: str) -> bool:
    async with tx.execute("INSERT INTO moderators (user_id, added_by, added_at) VALUES (?, ?, ?)"
                          " ON CONFLICT (user_id) DO NOTHING", (user_id, by, at)) as cur:
        return cur.rowcount == 1


async def remove_moderator(tx: Tx, user_id: int) -> bool:
    async with tx.execute("DELETE FROM moderators WHERE user_id = ?", (user_id,)) as cur:
        return cur.rowcount == 1


async def moderator_ids(tx: Tx) -> list[int]:
    async with tx.execute("SELECT user_id FROM moderators ORDER BY user_id") as cur:
        return [int(r[0]) for r in await cur.fetchall()]
