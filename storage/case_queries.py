"""Reading many cases at once: the moderators' list, statistics, and the export (streamed,
so that a million cases do not sit in memory)."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, fields

from storage import dialect
from storage.cases import EVIDENCE, Case, case_of
from storage.database import Tx, fetch_one, utc

_CASE_COLUMNS = ", ".join(f"c.{f.name}" for f in fields(Case))


@dataclass(frozen=True, slots=True)
class CaseFilter:
    """Every field optional; `chat_id` limits to the cases one group holds now (an active
    post). Times are compared as stored (UTC ISO text, which sorts as the moments do), so the
    indexes on `created_at` apply; `since` and `until` may be dates or times in any offset."""

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
            clauses.append("c.region_code = ?" if "." in self.region_code else "c.province_code = ?")
            params.append(self.region_code)
        if self.incident_type:
            clauses.append("c.incident_type = ?")
            params.append(self.incident_type)
        if self.since:
            clauses.append("c.created_at >= ?")
            params.append(utc(self.since))
        if self.until:
            clauses.append("c.created_at < ?")
            params.append(utc(self.until))
        if self.chat_id is not None:
            clauses.append("p.chat_id = ? AND c.id = p.case_id AND p.active = 1")
            params.append(self.chat_id)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def tables(self) -> str:
        """`cases c`, or for one group its posts first: a group's few thousand cases are
        read through its posts rather than by walking a status or time index over all of
        them (CROSS JOIN fixes that order in SQLite)."""
        return "case_posts p CROSS JOIN cases c" if self.chat_id is not None else "cases c"


async def search(tx: Tx, where: CaseFilter, limit: int, offset: int) -> tuple[list[Case], int]:
    """One page of matching cases, newest first, and how many match in all. Newest by
    `created_at`, the order of every filter index, so a page is read off an index."""
    sql, params = where.where()
    total = await count_matching(tx, where)
    async with tx.execute(f"SELECT {_CASE_COLUMNS} FROM {where.tables()}{sql} ORDER BY c.created_at DESC, c.id DESC"
                          " LIMIT ? OFFSET ?", (*params, limit, offset)) as cur:
        return [case_of(tx, r) for r in await cur.fetchall()], total


async def count_matching(tx: Tx, where: CaseFilter) -> int:
    sql, params = where.where()
    row = await fetch_one(tx, f"SELECT count(*) FROM {where.tables()}{sql}", tuple(params))
    return int(row[0]) if row else 0


async def stream(tx: Tx, where: CaseFilter, chunk: int = 1000,
                 with_links: bool = False) -> AsyncIterator[tuple[Case, int, list[str]]]:
    """Every matching case with its evidence count (and, `with_links`, its cleaned links,
    one query per chunk), oldest first, fetched in chunks by id."""
    sql, params = where.where()
    last = 0
    joiner = " AND " if sql else " WHERE "
    while True:
        async with tx.execute(
            f"SELECT {_CASE_COLUMNS}, (SELECT count(*) FROM evidence e WHERE e.case_id = c.id)"
            f" FROM {where.tables()}{sql}{joiner}c.id > ? ORDER BY c.id LIMIT ?", (*params, last, chunk)
        ) as cur:
            rows = await cur.fetchall()
        if not rows:
            return
        found: dict[int, list[str]] = {}
        if with_links:
            ids = [int(row[0]) for row in rows]
            async with tx.execute(
                f"SELECT case_id, url FROM evidence WHERE case_id IN ({', '.join('?' for _ in ids)})"
                " AND kind = 'link' AND held = 0 ORDER BY case_id, position", tuple(ids)) as cur:
                for case_id, url in await cur.fetchall():
                    found.setdefault(int(case_id), []).append(str(EVIDENCE.open(tx, "url", url)))
        for row in rows:
            values = tuple(row)
            last = int(values[0])
            yield case_of(tx, values[:-1]), int(values[-1]), found.get(last, [])


@dataclass(frozen=True, slots=True)
class Counts:
    total: int
    by_region: list[tuple[str, int]]
    by_type: list[tuple[str, int]]
    by_status: list[tuple[str, int]]


async def counts(tx: Tx, where: CaseFilter) -> Counts:
    """Totals by region, type and status of the matching cases, in one pass."""
    sql, params = where.where()
    async with tx.execute(f"SELECT c.region_code, c.incident_type, c.status, count(*) FROM {where.tables()}{sql}"
                          " GROUP BY 1, 2, 3", tuple(params)) as cur:
        rows = await cur.fetchall()
    tallies: tuple[Counter[str], Counter[str], Counter[str]] = (Counter(), Counter(), Counter())
    for row in rows:
        for tally, value in zip(tallies, row[:3], strict=True):
            tally[str(value)] += int(row[3])
    return _counts(*tallies)


async def daily_counts(tx: Tx, since_day: str, until_day: str) -> Counts:
    """The same totals for every case created on the UTC days [since_day, until_day), read
    from the counts the triggers keep (migration 0006), not from the cases."""
    tallies: dict[str, Counter[str]] = {"region": Counter(), "type": Counter(), "status": Counter()}
    async with tx.execute("SELECT dimension, value, sum(n) FROM case_counts WHERE day >= ? AND day < ?"
                          " GROUP BY dimension, value", (since_day, until_day)) as cur:
        for dimension, value, n in await cur.fetchall():
            tallies[str(dimension)][str(value)] += int(n)
    return _counts(tallies["region"], tallies["type"], tallies["status"])


def _counts(by_region: Counter[str], by_type: Counter[str], by_status: Counter[str]) -> Counts:
    def ranked(tally: Counter[str]) -> list[tuple[str, int]]:
        return sorted(((k, n) for k, n in tally.items() if n > 0), key=lambda kv: (-kv[1], kv[0]))

    return Counts(sum(by_status.values()), ranked(by_region), ranked(by_type), ranked(by_status))


@dataclass(frozen=True, slots=True)
class SameEvidence:
    """The newest few earlier cases holding a file identical to one of a case's, and how
    many there are in all (counted up to `cap`; `capped` when there may be more)."""

    newest: list[str]
    total: int
    capped: bool = False


async def same_evidence(tx: Tx, case_id: int, newest: int = 5, cap: int = 100) -> SameEvidence:
    """Earlier cases (same SHA-256) for the duplicate flag. Bounded whatever the number of
    matches: for each of the case's files, at most `cap` + 1 entries of the index on
    (sha256, case_id) are read, newest first, so one popular image shared by thousands of
    cases costs a handful of index reads, not a list of every case."""
    async with tx.execute("SELECT DISTINCT sha256 FROM evidence WHERE case_id = ? AND sha256 IS NOT NULL",
                          (case_id,)) as cur:
        hashes = [str(r[0]) for r in await cur.fetchall()]
    earlier: set[int] = set()
    for sha256 in hashes:
        async with tx.execute("SELECT DISTINCT case_id FROM evidence WHERE sha256 = ? AND case_id < ?"
                              " ORDER BY case_id DESC LIMIT ?", (sha256, case_id, cap + 1)) as cur:
            earlier.update(int(r[0]) for r in await cur.fetchall())
    if not earlier:
        return SameEvidence([], 0)
    shown = sorted(earlier, reverse=True)[:newest]
    async with tx.execute(f"SELECT number FROM cases WHERE id IN ({', '.join('?' for _ in shown)}) ORDER BY id DESC",
                          shown) as cur:
        numbers = [str(r[0]) for r in await cur.fetchall()]
    return SameEvidence(numbers, min(len(earlier), cap), capped=len(earlier) > cap)


async def submitted_since(tx: Tx, reporter_id: int, since: str) -> int:
    row = await fetch_one(tx, "SELECT count(*) FROM cases WHERE reporter_id = ? AND created_at >= ?",
                          (reporter_id, utc(since)))
    return int(row[0]) if row else 0


async def closed_with_identity(tx: Tx, closed_before: str, limit: int = 500) -> list[int]:
    """Closed cases (done, rejected) whose reporter identity is still stored: the partial
    index `cases_retention` holds just those, oldest first."""
    async with tx.execute(
        f"SELECT id FROM cases{dialect.of(tx).indexed_by('cases_retention')}"
        " WHERE status IN ('selesai', 'ditolak') AND updated_at < ?"
        " AND (reporter_name IS NOT NULL OR reporter_phone IS NOT NULL) ORDER BY updated_at LIMIT ?",
        (utc(closed_before), limit)
    ) as cur:
        return [int(r[0]) for r in await cur.fetchall()]
