"""Officers' questions to a reporter, relayed without saying who asked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from storage.database import Tx, fetch_one
from storage.sealing import Table

INFO_REQUESTS = Table("info_requests", sealed=("question",))


@dataclass(frozen=True, slots=True)
class InfoRequest:
    id: int
    case_id: int
    chat_id: int
    question: str
    asked_by: str
    asked_at: str
    answered_at: str | None


_COLUMNS = "id, case_id, chat_id, question, asked_by, asked_at, answered_at"
_NAMES = tuple(c.strip() for c in _COLUMNS.split(","))


async def add(tx: Tx, case_id: int, chat_id: int, question: str, by: str, at: str) -> int:
    row = await fetch_one(
        tx, "INSERT INTO info_requests (case_id, chat_id, question, asked_by, asked_at)"
        " VALUES (?, ?, ?, ?, ?) RETURNING id", (case_id, chat_id, INFO_REQUESTS.seal(tx, "question", question), by, at))
    assert row is not None
    return int(row[0])


def _request(tx: Tx, row: Any) -> InfoRequest:
    return InfoRequest(*INFO_REQUESTS.opened(tx, _NAMES, row))


async def get(tx: Tx, request_id: int) -> InfoRequest | None:
    row = await fetch_one(tx, f"SELECT {_COLUMNS} FROM info_requests WHERE id = ?", (request_id,))
    return _request(tx, row) if row else None


async def mark_answered(tx: Tx, request_id: int, at: str) -> None:
    await tx.execute("UPDATE info_requests SET answered_at = coalesce(answered_at, ?) WHERE id = ?",
                     (at, request_id))
