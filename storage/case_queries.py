"""Reading many cases at once: the moderators' list, statistics, and the export (streamed,
so that a million cases do not sit in memory)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, fields

from storage.cases import Case
from storage.database import Tx, fetch_one, utc

_CASE_COLUMNS = ", ".join(f"c.{f.name}" for f in fields(Case))


@dataclass(frozen=True, slots=True)
class CaseFilter:
    """Every field optional; `chat_id` limits to the cases one group holds now. Times are
    compared with SQLite's `datetime()`, which reads any UTC offset the text carries."""

    status: str | None = None
    region_code: str | None = None
    incident_type: str | None = None
    since: str | None = None
    until: str | None = None
    chat_id: int | None = None

    def where(self) -> tuple[str, list[object]]:
        clauses: list[str] = []
        params: list[object] = []
        if self.status:
            clauses.append("c.status = ?")
            params.append(self.status)
        if self.region_code:  # a province code takes its kabupaten/kota too
            clauses.append("(c.region_code = ? OR c.province_code = ?)")
            params += [self.region_code, self.region_code]
        if self.incident_type:
            clauses.append("c.incident_type = ?")
            params.append(self.incident_type)
        if self.since:
            clauses.append("datetime(c.created_at) >= datetime(?)")
            params.append(self.since)
        if self.until:
            clauses.append("datetime(c.created_at) < datetime(?)")
            params.append(self.until)
        if self.chat_id is not None:
            clauses.append("EXISTS (SELECT 1 FROM case_posts p WHERE p.case_id = c.id AND p.chat_id = ? AND p.active = 1)")
            params.append(self.chat_id)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


async def search(tx: Tx, where: CaseFilter, limit: int, offset: int) -> tuple[list[Case], int]:
    """One page of matching cases, newest first, and how many match in all."""
    sql, params = where.where()
    row = await fetch_one(tx, f"SELECT count(*) FROM cases c{sql}", tuple(params))
    async with tx.execute(f"SELECT {_CASE_COLUMNS} FROM cases c{sql} ORDER BY c.id DESC LIMIT ? OFFSET ?",
                          (*params, limit, offset)) as cur:
        return [Case(*r) for r in await cur.fetchall()], int(row[0]) if row else 0


async def stream(tx: Tx, where: CaseFilter, chunk: int = 1000) -> AsyncIterator[tuple[Case, int]]:
    """Every matching case with its evidence count, oldest first, fetched in chunks by id."""
    sql, params = where.where()
    last = 0
    joiner = " AND " if sql else " WHERE "
    while True:
        async with tx.execute(
            f"SELECT {_CASE_COLUMNS}, (SELECT count(*) FROM evidence e WHERE e.case_id = c.id)"
            f" FROM cases c{sql}{joiner}c.id > ? ORDER BY c.id LIMIT ?", (*params, last, chunk)
        ) as cur:
            rows = await cur.fetchall()
        if not rows:
            return
        for row in rows:
            values = tuple(row)
            last = int(values[0])
            yield Case(*values[:-1]), int(values[-1])


@dataclass(frozen=True, slots=True)
class Counts:
    total: int
    by_region: list[tuple[str, int]]
    by_type: list[tuple[str, int]]
    by_status: list[tuple[str, int]]


async def counts(tx: Tx, where: CaseFilter) -> Counts:
    sql, params = where.where()

    async def grouped(column: str) -> list[tuple[str, int]]:
        async with tx.execute(f"SELECT c.{column}, count(*) FROM cases c{sql} GROUP BY c.{column}"
                              " ORDER BY count(*) DESC, c." + column, tuple(params)) as cur:
            return [(str(r[0]), int(r[1])) for r in await cur.fetchall()]

    row = await fetch_one(tx, f"SELECT count(*) FROM cases c{sql}", tuple(params))
    return Counts(int(row[0]) if row else 0, await grouped("region_code"), await grouped("incident_type"),
                  await grouped("status"))


async def same_evidence(tx: Tx, case_id: int) -> list[str]:
    """Numbers of earlier cases holding a file identical (same SHA-256) to one of this case's."""
    async with tx.execute(
        "SELECT DISTINCT c.number FROM evidence e JOIN evidence o ON o.sha256 = e.sha256 AND o.case_id != e.case_id"
        " JOIN cases c ON c.id = o.case_id WHERE e.case_id = ? AND e.sha256 IS NOT NULL AND c.id < ?"
        " ORDER BY c.number", (case_id, case_id)
    ) as cur:
        return [str(r[0]) for r in await cur.fetchall()]


async def submitted_since(tx: Tx, reporter_id: int, since: str) -> int:
    row = await fetch_one(tx, "SELECT count(*) FROM cases WHERE reporter_id = ? AND datetime(created_at) >= datetime(?)",
                          (reporter_id, since))
    return int(row[0]) if row else 0


async def closed_with_identity(tx: Tx, closed_before: str, limit: int = 500) -> list[int]:
    """Closed cases (done, rejected) whose reporter identity is still stored."""
    async with tx.execute(
        "SELECT id FROM cases WHERE status IN ('selesai', 'ditolak') AND datetime(updated_at) < datetime(?)"
        " AND (reporter_name IS NOT NULL OR reporter_phone IS NOT NULL) ORDER BY id LIMIT ?",
        (utc(closed_before), limit)
    ) as cur:
        return [int(r[0]) for r in await cur.fetchall()]
