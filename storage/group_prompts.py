"""Questions the bot asked in a focal-point group and expects a reply to."""

from __future__ import annotations

from dataclasses import dataclass

from storage.database import Tx, fetch_one


@dataclass(frozen=True, slots=True)
class GroupPrompt:
    id: int
    case_id: int
    chat_id: int
    message_id: int
    action: str
    created_by: str
    created_at: str
    used_at: str | None


_COLUMNS = "id, case_id, chat_id, message_id, action, created_by, created_at, used_at"


async def add(tx: Tx, case_id: int, chat_id: int, message_id: int, action: str, by: str, at: str) -> None:
    await tx.execute(
        "INSERT INTO group_prompts (case_id, chat_id, message_id, action, created_by, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (chat_id, message_id) DO NOTHING", (case_id, chat_id, message_id, action, by, at))


async def find(tx: Tx, chat_id: int, message_id: int) -> GroupPrompt | None:
    row = await fetch_one(tx, f"SELECT {_COLUMNS} FROM group_prompts WHERE chat_id = ? AND message_id = ?",
                          (chat_id, message_id))
    return GroupPrompt(*row) if row else None


async def mark_used(tx: Tx, prompt_id: int, at: str) -> None:
    await tx.execute("UPDATE group_prompts SET used_at = ? WHERE id = ?", (at, prompt_id))
