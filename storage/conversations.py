"""Conversation state per channel and address: one row, rewritten after every step."""

from __future__ import annotations

from dataclasses import dataclass

from storage.database import Tx


@dataclass(frozen=True, slots=True)
class StoredConversation:
    channel: str
    address: str
    state: str
    data: str
    updated_at: str


async def load(tx: Tx, channel: str, address: str) -> StoredConversation | None:
    async with tx.execute(
        "SELECT channel, address, state, data, updated_at FROM conversations"
        " WHERE channel = ? AND address = ?",
        (channel, address),
    ) as cur:
        row = await cur.fetchone()
    return StoredConversation(*row) if row else None


async def save(tx: Tx, conv: StoredConversation) -> None:
    await tx.execute(
        "INSERT INTO conversations (channel, address, state, data, updated_at)"
        " VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (channel, address) DO UPDATE SET"
        " state = excluded.state, data = excluded.data, updated_at = excluded.updated_at",
        (conv.channel, conv.address, conv.state, conv.data, conv.updated_at),
    )


async def count_by_state(tx: Tx) -> dict[str, int]:
    async with tx.execute("SELECT state, count(*) FROM conversations GROUP BY state") as cur:
        return {row[0]: row[1] for row in await cur.fetchall()}


async def delete(tx: Tx, channel: str, address: str) -> None:
    await tx.execute("DELETE FROM conversations WHERE channel = ? AND address = ?", (channel, address))
