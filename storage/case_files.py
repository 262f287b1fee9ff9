"""Generated case files (PDF): the register of their SHA-256, and the bytes of one that is
still being delivered, so that a retry sends the very file whose hash was recorded."""

from __future__ import annotations

from dataclasses import dataclass

from storage import dialect
from storage.database import Tx, fetch_one


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


async def add(tx: Tx, case_id: int, delivery_id: int | None, sha256: str, size: int, audience: str,
              at: str, data: bytes | None) -> int:
    row = await fetch_one(
        tx, "INSERT INTO case_files (case_id, delivery_id, sha256, size, audience, generated_at, data)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id", (case_id, delivery_id, sha256, size, audience, at, data))
    assert row is not None
    return int(row[0])


async def for_delivery(tx: Tx, delivery_id: int) -> CaseFile | None:
    row = await fetch_one(tx, f"SELECT {_COLUMNS} FROM case_files WHERE delivery_id = ?", (delivery_id,))
    return CaseFile(*row) if row else None


async def of_case(tx: Tx, case_id: int) -> list[CaseFile]:
    async with tx.execute(f"SELECT {_COLUMNS} FROM case_files WHERE case_id = ? ORDER BY id", (case_id,)) as cur:
        return [CaseFile(*r) for r in await cur.fetchall()]


async def waiting(tx: Tx, channel: str, address: str, case_id: int) -> bool:
    """A file of this case is already queued for this chat (a second press adds nothing)."""
    return await fetch_one(
        tx, "SELECT 1 FROM outbox WHERE channel = ? AND address = ? AND status = 'pending' AND case_id = ?"
        f" AND {dialect.of(tx).json_text('payload', '$.case_file')} IS NOT NULL LIMIT 1",
        (channel, address, case_id)) is not None


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
