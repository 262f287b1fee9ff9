"""Generated case files (PDF): the register of their SHA-256, and the bytes of one that is
still being delivered (sealed: it may name the reporter), so that a retry sends the very
file whose hash was recorded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from storage import outbox
from storage.database import Tx, fetch_one
from storage.sealing import Table

CASE_FILES = Table("case_files", sealed={"data": bytes})


@dataclass(frozen=True, slots=True)
class CaseFile:
    id: int
    case_id: int
    delivery_id: int | None
    sha256: str
    size: int
    audience: str
    generated_at: str
    data: bytes | None


_COLUMNS = "id, case_id, delivery_id, sha256, size, audience, generated_at, data"
_NAMES = tuple(c.strip() for c in _COLUMNS.split(","))


def _file(tx: Tx, row: Any) -> CaseFile:
    return CaseFile(*CASE_FILES.opened(tx, _NAMES, row))


async def add(tx: Tx, case_id: int, delivery_id: int | None, sha256: str, size: int, audience: str,
              at: str, data: bytes | None) -> int:
    row = await fetch_one(
        tx, "INSERT INTO case_files (case_id, delivery_id, sha256, size, audience, generated_at, data)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (case_id, delivery_id, sha256, size, audience, at, CASE_FILES.seal(tx, "data", data)))
    assert row is not None
    return int(row[0])


async def for_delivery(tx: Tx, delivery_id: int) -> CaseFile | None:
    row = await fetch_one(tx, f"SELECT {_COLUMNS} FROM case_files WHERE delivery_id = ?", (delivery_id,))
    return _file(tx, row) if row else None


async def of_case(tx: Tx, case_id: int) -> list[CaseFile]:
    async with tx.execute(f"SELECT {_COLUMNS} FROM case_files WHERE case_id = ? ORDER BY id", (case_id,)) as cur:
        return [_file(tx, r) for r in await cur.fetchall()]


async def waiting(tx: Tx, channel: str, address: str, case_id: int) -> bool:
    """A file of this case is already queued for this chat (a second press adds nothing)."""
    return any("case_file" in payload for payload in await outbox.pending_payloads(tx, channel, address, case_id))


async def release(tx: Tx, delivery_id: int) -> None:
    """The delivery is over (sent, or never sendable): only the hash stays, and a repeat
    of the delivery knows the file went out."""
    await tx.execute("UPDATE case_files SET data = NULL WHERE delivery_id = ? AND data IS NOT NULL", (delivery_id,))


async def forget_data_of_reporter(tx: Tx, reporter_id: int) -> None:
    """Erasure: a file still waiting to be sent may name the reporter. It is dropped and
    detached from its delivery, so the retry makes a new file from the erased case."""
    await tx.execute("UPDATE case_files SET data = NULL, delivery_id = NULL WHERE data IS NOT NULL AND case_id IN"
                     " (SELECT id FROM cases WHERE reporter_id = ?)", (reporter_id,))


async def forget_data_of_cases(tx: Tx, case_ids: list[int]) -> None:
    await tx.executemany("UPDATE case_files SET data = NULL, delivery_id = NULL WHERE data IS NOT NULL"
                         " AND case_id = ?", [(case_id,) for case_id in case_ids])


async def recorded(tx: Tx, sha256: str) -> bool:
    """Whether a case file with this SHA-256 was generated (and recorded in its case's trail)."""
    return await fetch_one(tx, "SELECT 1 FROM case_files WHERE sha256 = ? LIMIT 1", (sha256,)) is not None
