"""Where each case was sent, and the group message officers act on."""

from __future__ import annotations

from dataclasses import dataclass

from storage.database import Row, Tx, fetch_one


@dataclass(frozen=True, slots=True)
class CasePost:
    id: int
    case_id: int
    chat_id: int
    route_id: int | None
    message_id: int | None
    active: bool
    created_at: str


_COLUMNS = "id, case_id, chat_id, route_id, message_id, active, created_at"


def _post(row: Row) -> CasePost:
    values = list(row)
    values[5] = bool(values[5])
    return CasePost(*values)


async def create(tx: Tx, case_id: int, chat_id: int, route_id: int | None, at: str) -> tuple[int, bool]:
    """A post of the case to a chat; returns its id and whether it is new (a case sent
    back to a group it had left reuses the old post)."""
    existing = await fetch_one(tx, "SELECT id, active FROM case_posts WHERE case_id = ? AND chat_id = ?",
                               (case_id, chat_id))
    if existing is not None:
        await tx.execute("UPDATE case_posts SET active = 1, route_id = ? WHERE id = ?", (route_id, existing[0]))
        return int(existing[0]), not existing[1]
    row = await fetch_one(
        tx, "INSERT INTO case_posts (case_id, chat_id, route_id, created_at) VALUES (?, ?, ?, ?) RETURNING id",
        (case_id, chat_id, route_id, at))
    assert row is not None
    return int(row[0]), True


async def get(tx: Tx, post_id: int) -> CasePost | None:
    row = await fetch_one(tx, f"SELECT {_COLUMNS} FROM case_posts WHERE id = ?", (post_id,))
    return _post(row) if row else None


async def set_message(tx: Tx, post_id: int, message_id: int) -> None:
    await tx.execute("UPDATE case_posts SET message_id = ? WHERE id = ?", (message_id, post_id))


async def of_case(tx: Tx, case_id: int, active_only: bool = True) -> list[CasePost]:
    sql = f"SELECT {_COLUMNS} FROM case_posts WHERE case_id = ?" + (" AND active = 1" if active_only else "")
    async with tx.execute(sql + " ORDER BY id", (case_id,)) as cur:
        return [_post(row) for row in await cur.fetchall()]


async def in_chat(tx: Tx, case_id: int, chat_id: int) -> CasePost | None:
    row = await fetch_one(tx, f"SELECT {_COLUMNS} FROM case_posts WHERE case_id = ? AND chat_id = ?",
                          (case_id, chat_id))
    return _post(row) if row else None


async def deactivate(tx: Tx, post_id: int) -> None:
    await tx.execute("UPDATE case_posts SET active = 0 WHERE id = ?", (post_id,))


async def migrate_chat(tx: Tx, old_chat_id: int, new_chat_id: int) -> None:
    await tx.execute(  # posts of cases the new chat already has stay where they are (UPDATE OR IGNORE)
        "UPDATE case_posts SET chat_id = ? WHERE chat_id = ? AND NOT EXISTS (SELECT 1 FROM case_posts AS o"
        " WHERE o.case_id = case_posts.case_id AND o.chat_id = ?)", (new_chat_id, old_chat_id, new_chat_id))


async def chat_has_cases(tx: Tx, chat_id: int) -> bool:
    """Whether the chat holds a case now (a case moved away is no longer its own)."""
    return await fetch_one(tx, "SELECT 1 FROM case_posts WHERE chat_id = ? AND active = 1 LIMIT 1",
                           (chat_id,)) is not None


async def active_in_chat(tx: Tx, chat_id: int) -> list[CasePost]:
    async with tx.execute(f"SELECT {_COLUMNS} FROM case_posts WHERE chat_id = ? AND active = 1 ORDER BY id",
                          (chat_id,)) as cur:
        return [_post(row) for row in await cur.fetchall()]
