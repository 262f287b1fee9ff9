"""Links between related cases, and the bounded candidate searches that find them when a
case is submitted (similar name, same event, identical file)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from storage.cases import CASES
from storage.database import Tx, fetch_one


@dataclass(frozen=True, slots=True)
class Candidate:
    """What matching needs of an earlier case, nothing more."""

    id: int
    number: str
    region_code: str
    agency_name: str | None
    person_name: str | None
    incident_type: str
    occurred_on: str
    created_at: str


@dataclass(frozen=True, slots=True)
class Related:
    case_id: int
    number: str
    reasons: tuple[str, ...]
    created_by: str
    created_at: str


_CANDIDATE = "id, number, region_code, agency_name, person_name, incident_type, occurred_on, created_at"
_CANDIDATE_NAMES = tuple(c.strip() for c in _CANDIDATE.split(","))


def _candidate(tx: Tx, row: Any) -> Candidate:
    """The search reads the same earlier cases for every new case: each is opened once."""
    return tx.keys.recall(tuple(row), lambda: Candidate(*CASES.opened(tx, _CANDIDATE_NAMES, row)))


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


async def add(tx: Tx, a: int, b: int, reasons: tuple[str, ...], by: str, at: str) -> bool:
    """Link two cases; False when they already were (the reasons are then merged)."""
    low, high = _pair(a, b)
    row = await fetch_one(tx, "SELECT reasons FROM case_links WHERE case_id = ? AND other_id = ?", (low, high))
    if row is not None:
        merged = tuple(dict.fromkeys([*str(row[0]).split(","), *reasons]))
        await tx.execute("UPDATE case_links SET reasons = ? WHERE case_id = ? AND other_id = ?",
                         (",".join(merged), low, high))
        return False
    await tx.execute("INSERT INTO case_links (case_id, other_id, reasons, created_by, created_at)"
                     " VALUES (?, ?, ?, ?, ?)", (low, high, ",".join(reasons), by, at))
    return True


async def remove(tx: Tx, a: int, b: int) -> bool:
    low, high = _pair(a, b)
    async with tx.execute("DELETE FROM case_links WHERE case_id = ? AND other_id = ?", (low, high)) as cur:
        return cur.rowcount == 1


async def of_case(tx: Tx, case_id: int) -> list[Related]:
    """Every case linked to this one, by number."""
    async with tx.execute(
        "SELECT c.id, c.number, l.reasons, l.created_by, l.created_at FROM case_links l"
        " JOIN cases c ON c.id = CASE WHEN l.case_id = ? THEN l.other_id ELSE l.case_id END"
        " WHERE l.case_id = ? OR l.other_id = ? ORDER BY c.number", (case_id, case_id, case_id)
    ) as cur:
        return [Related(int(r[0]), str(r[1]), tuple(str(r[2]).split(",")), str(r[3]), str(r[4]))
                for r in await cur.fetchall()]


async def waiting(tx: Tx, limit: int) -> list[int]:
    """Cases submitted and not yet through the related-reports search, oldest first."""
    async with tx.execute("SELECT id FROM cases WHERE linked_at IS NULL ORDER BY id LIMIT ?", (limit,)) as cur:
        return [int(r[0]) for r in await cur.fetchall()]


async def claim(tx: Tx, case_id: int, at: str) -> bool:
    """Mark a case as linked; False when another round (or worker) already did."""
    return await fetch_one(tx, "UPDATE cases SET linked_at = ? WHERE id = ? AND linked_at IS NULL RETURNING id",
                           (at, case_id)) is not None


async def latest_in_province(tx: Tx, province_code: str, before_id: int, limit: int) -> list[Candidate]:
    """The province's latest earlier cases that name someone: walks the province index
    backwards, so the cost is `limit` rows whatever the size of the table."""
    async with tx.execute(
        f"SELECT {_CANDIDATE} FROM cases WHERE province_code = ? AND id < ? AND person_name IS NOT NULL"
        " ORDER BY id DESC LIMIT ?", (province_code, before_id, limit)
    ) as cur:
        return [_candidate(tx, r) for r in await cur.fetchall()]


async def same_event(tx: Tx, region_code: str, incident_type: str, first_day: str, last_day: str,
                     exclude_id: int, limit: int) -> list[Candidate]:
    """Cases of one region and incident type that happened between two days (inclusive)."""
    async with tx.execute(
        f"SELECT {_CANDIDATE} FROM cases WHERE region_code = ? AND incident_type = ?"
        " AND occurred_on BETWEEN ? AND ? AND id != ? ORDER BY id DESC LIMIT ?",
        (region_code, incident_type, first_day, last_day, exclude_id, limit)
    ) as cur:
        return [_candidate(tx, r) for r in await cur.fetchall()]


async def same_file(tx: Tx, case_id: int, limit: int) -> list[Candidate]:
    """Other cases holding a file identical (same SHA-256) to one of this case's."""
    async with tx.execute(
        f"SELECT {', '.join('c.' + c.strip() for c in _CANDIDATE.split(','))} FROM cases c"
        " WHERE c.id IN (SELECT o.case_id FROM evidence e JOIN evidence o ON o.sha256 = e.sha256"
        "  WHERE e.case_id = ? AND e.sha256 IS NOT NULL AND o.case_id != ?)"
        " ORDER BY c.id DESC LIMIT ?", (case_id, case_id, limit)
    ) as cur:
        return [_candidate(tx, r) for r in await cur.fetchall()]
