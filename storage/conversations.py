"""Conversation state per channel and address: one row, rewritten after every step."""

from __future__ import annotations

from dataclasses import dataclass

from storage.database import Tx, among, fetch_one


@dataclass(frozen=True, slots=True)
class StoredConversation:
    channel: str
    address: str
    state: str
    data: str
    updated_at: str


async def load(tx: Tx, channel: str, address: str) -> StoredConversation | None:
    row = await fetch_one(
        tx,
        "SELECT channel, address, state, data, updated_at FROM conversations"
        " WHERE channel = ? AND address = ?",
        (channel, address),
    )
    return StoredConversation(*row) if row else None


async def load_many(tx: Tx, keys: list[tuple[str, str]]) -> dict[tuple[str, str], StoredConversation]:
    """The conversations for these (channel, address) pairs, in one query."""
    if not keys:
        return {}
    condition, params = among(tx, ("channel", "address"), keys)
    rows = await tx.execute_fetchall(
        f"SELECT channel, address, state, data, updated_at FROM conversations WHERE {condition}", params)
    return {(row[0], row[1]): StoredConversation(*row) for row in rows}


async def save_many(tx: Tx, convs: list[StoredConversation]) -> None:
    if not convs:
        return
    await tx.executemany(
        "INSERT INTO conversations (channel, address, state, data, updated_at)"
        " VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (channel, address) DO UPDATE SET"
        " state = excluded.state, data = excluded.data, updated_at = excluded.updated_at",
        [(c.channel, c.address, c.state, c.data, c.updated_at) for c in convs],
    )


async def delete_many(tx: Tx, keys: list[tuple[str, str]]) -> None:
    if not keys:
        return
    await tx.executemany("DELETE FROM conversations WHERE channel = ? AND address = ?", keys)
