"""Conversation state per channel and address: one row, rewritten after every step. The
address is stored as its keyed hash, the saved answers (the draft: name, phone, every
answer) sealed whole; the files the draft holds are listed apart (`files`), for the
evidence sweep."""

from __future__ import annotations

import json
from dataclasses import dataclass

from storage.database import Tx, among, fetch_one
from storage.reporters import hashed_keys
from storage.sealing import Table

CONVERSATIONS = Table("conversations", key=("channel", "address"), sealed=("data",), hashed={"address": None})


@dataclass(frozen=True, slots=True)
class StoredConversation:
    channel: str
    address: str
    state: str
    data: str
    updated_at: str
    files: tuple[str, ...] | None = None
    """The SHA-256s of the files the draft holds (None: read from `data` when saved)."""


def _files(conv: StoredConversation) -> str:
    if conv.files is not None:
        shas = list(conv.files)
    else:
        try:
            evidence = json.loads(conv.data).get("draft", {}).get("evidence", [])
        except (ValueError, AttributeError):
            evidence = []
        shas = [str(e["sha256"]) for e in evidence if isinstance(e, dict) and e.get("sha256")]
    return json.dumps([{"sha256": sha} for sha in shas])


async def load(tx: Tx, channel: str, address: str) -> StoredConversation | None:
    row = await fetch_one(
        tx, "SELECT state, data, updated_at FROM conversations WHERE channel = ? AND address = ?",
        (channel, CONVERSATIONS.lookup(tx, address)))
    return StoredConversation(channel, address, row[0], CONVERSATIONS.open(tx, "data", row[1]), row[2]) if row else None


async def load_many(tx: Tx, keys: list[tuple[str, str]]) -> dict[tuple[str, str], StoredConversation]:
    """The conversations for these (channel, address) pairs, in one query."""
    if not keys:
        return {}
    hashed = hashed_keys(tx, keys)
    condition, params = among(tx, ("channel", "address"), hashed, ("text", "bytea"))
    rows = await tx.execute_fetchall(
        f"SELECT channel, address, state, data, updated_at FROM conversations WHERE {condition}", params)
    found = {}
    for row in rows:
        channel, address = hashed[(row[0], bytes(row[1]))]
        found[(channel, address)] = StoredConversation(channel, address, row[2], CONVERSATIONS.open(tx, "data", row[3]),
                                                       row[4])
    return found


async def save_many(tx: Tx, convs: list[StoredConversation]) -> None:
    if not convs:
        return
    await tx.executemany(
        "INSERT INTO conversations (channel, address, state, data, updated_at, files)"
        " VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (channel, address) DO UPDATE SET"
        " state = excluded.state, data = excluded.data, updated_at = excluded.updated_at, files = excluded.files",
        [(c.channel, CONVERSATIONS.lookup(tx, c.address), c.state, CONVERSATIONS.seal(tx, "data", c.data), c.updated_at,
          _files(c)) for c in convs],
    )


async def delete_many(tx: Tx, keys: list[tuple[str, str]]) -> None:
    if not keys:
        return
    await tx.executemany("DELETE FROM conversations WHERE channel = ? AND address = ?",
                         [(channel, CONVERSATIONS.lookup(tx, address)) for channel, address in keys])
