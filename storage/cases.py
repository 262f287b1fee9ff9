"""Cases, their evidence and their audit trail. What a reporter typed or sent (the
reporter's name and phone, the person and agency reported, the place and the pin, the
account, the witnesses; a file's name and references, links and forwarded text; an audit
note) is sealed; case numbers, regions, dates, statuses, kinds and codes stay in clear, so
every filter and count reads an index."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from storage import dialect
from storage.database import Tx, fetch_one, utc
from storage.sealing import Table

CASES = Table("cases", sealed={
    "agency_name": str, "person_name": str, "person_position": str, "place": str, "latitude": float,
    "longitude": float, "description": str, "witnesses": str, "reporter_name": str, "reporter_phone": str})
EVIDENCE = Table("evidence", sealed=("channel_ref", "channel_unique_ref", "file_name", "url", "text", "origin"))
CASE_EVENTS = Table("case_events", sealed=("note",))


@dataclass(frozen=True, slots=True)
class NewEvidence:
    kind: str
    channel_ref: str
    channel_unique_ref: str | None
    mime: str | None
    size: int | None
    sha256: str | None
    file_name: str | None
    url: str | None = None
    """A link (kind 'link'), cleaned; with `held`, a share link that could not be resolved."""
    held: bool = False
    """Kept for moderators only, never forwarded: a link not yet cleaned."""
    text: str | None = None
    """A forwarded message's text (kind 'message')."""
    origin: str | None = None
    origin_at: str | None = None


@dataclass(frozen=True, slots=True)
class NewCase:
    number: str
    reporter_id: int
    channel: str
    locale: str
    region_code: str
    province_code: str
    agency_group: str
    agency_unit: str | None
    agency_name: str | None
    person_name: str | None
    person_position: str | None
    person_status: str
    incident_type: str
    occurred_on: str
    learned_on: str
    place: str
    latitude: float | None
    longitude: float | None
    description: str
    witnesses: str | None
    identity_mode: str
    reporter_name: str | None
    reporter_phone: str | None
    consent_at: str
    created_at: str


@dataclass(frozen=True, slots=True)
class Case:
    id: int
    number: str
    status: str
    reporter_id: int
    channel: str
    locale: str
    region_code: str
    province_code: str
    agency_group: str
    agency_unit: str | None
    agency_name: str | None
    person_name: str | None
    person_position: str | None
    person_status: str
    incident_type: str
    occurred_on: str
    learned_on: str
    place: str
    latitude: float | None
    longitude: float | None
    description: str
    witnesses: str | None
    identity_mode: str
    reporter_name: str | None
    reporter_phone: str | None
    consent_at: str
    created_at: str
    updated_at: str
    routed_at: str | None = None
    reminded_at: str | None = None
    escalated_at: str | None = None
    identity_erased_at: str | None = None


@dataclass(frozen=True, slots=True)
class Evidence:
    id: int
    case_id: int
    position: int
    kind: str
    channel_ref: str
    channel_unique_ref: str | None
    mime: str | None
    size: int | None
    sha256: str | None
    file_name: str | None
    created_at: str
    url: str | None = None
    held: bool = False
    text: str | None = None
    origin: str | None = None
    origin_at: str | None = None

    @property
    def is_file(self) -> bool:
        """A file with bytes (photo, video, document, recording), not a link or a message."""
        return self.kind not in ("link", "message")


@dataclass(frozen=True, slots=True)
class CaseEvent:
    id: int
    case_id: int
    at: str
    actor: str
    kind: str
    before: str | None
    after: str | None
    note: str | None
    actor_name: str | None = None


class DuplicateCaseNumber(Exception):
    """The generated case number is taken; the caller draws another."""


_NEW_CASE_COLUMNS = [f.name for f in fields(NewCase)]
CASE_NAMES = tuple(f.name for f in fields(Case))
_CASE_COLUMNS = ", ".join(CASE_NAMES)
_EVIDENCE_NAMES = tuple(f.name for f in fields(Evidence))
_EVIDENCE_COLUMNS = ", ".join(_EVIDENCE_NAMES)
_EVENT_NAMES = tuple(f.name for f in fields(CaseEvent))
_EVENT_COLUMNS = ", ".join(_EVENT_NAMES)


def case_of(tx: Tx, row: Any) -> Case:
    """A row read with every column of `Case`, in order."""
    return Case(*CASES.opened(tx, CASE_NAMES, row))


def _event(tx: Tx, row: Any) -> CaseEvent:
    return CaseEvent(*CASE_EVENTS.opened(tx, _EVENT_NAMES, row))


async def insert(tx: Tx, case: NewCase, evidence: list[NewEvidence]) -> int:
    """Store a submitted case with its evidence and its first audit event; returns its id."""
    created = utc(case.created_at)  # compared as stored: always UTC
    values = [created if name == "created_at" else CASES.seal(tx, name, getattr(case, name)) if name in CASES.kinds
              else getattr(case, name) for name in _NEW_CASE_COLUMNS]
    sql = (
        f"INSERT INTO cases ({', '.join(_NEW_CASE_COLUMNS)}, updated_at)"
        f" VALUES ({', '.join('?' for _ in _NEW_CASE_COLUMNS)}, ?) RETURNING id"
    )
    try:
        async with tx.execute(sql, (*values, created)) as cur:
            row = await cur.fetchone()
    except Exception as exc:
        if dialect.of(tx).is_unique_violation(exc, "cases", "number"):
            raise DuplicateCaseNumber(case.number) from exc
        raise
    assert row is not None
    case_id = int(row[0])
    await _insert_evidence(tx, case_id, evidence, 1, case.created_at)
    await add_event(tx, case_id, case.created_at, "reporter", "created", None, "baru", None)
    return case_id


async def add_event(
    tx: Tx, case_id: int, at: str, actor: str, kind: str,
    before: str | None, after: str | None, note: str | None, actor_name: str | None = None,
) -> None:
    await tx.execute(
        "INSERT INTO case_events (case_id, at, actor, kind, before, after, note, actor_name)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (case_id, at, actor, kind, before, after, CASE_EVENTS.seal(tx, "note", note), actor_name),
    )


async def get(tx: Tx, case_id: int, *, to_change: bool = False) -> Case | None:
    """`to_change`: the transaction decides on the case's status as read, so the row is
    locked (on PostgreSQL) and a concurrent change is waited for, not met at the update."""
    lock = dialect.of(tx).row_lock if to_change else ""
    row = await fetch_one(tx, f"SELECT {_CASE_COLUMNS} FROM cases WHERE id = ?{lock}", (case_id,))
    return case_of(tx, row) if row else None


async def by_number(tx: Tx, number: str) -> Case | None:
    row = await fetch_one(tx, f"SELECT {_CASE_COLUMNS} FROM cases WHERE number = ?", (number,))
    return case_of(tx, row) if row else None


async def set_status(tx: Tx, case_id: int, before: str, after: str, at: str, actor: str,
                     actor_name: str | None = None, note: str | None = None) -> bool:
    """Move a case from `before` to `after`, with its audit event. False (and nothing
    written) when the case is no longer in `before`: someone else acted first."""
    async with tx.execute(
        "UPDATE cases SET status = ?, updated_at = ? WHERE id = ? AND status = ?",
        (after, utc(at), case_id, before),
    ) as cur:
        if cur.rowcount != 1:
            return False
    await add_event(tx, case_id, at, actor, "status", before, after, note, actor_name)
    return True


async def mark_routed(tx: Tx, case_id: int, at: str) -> None:
    """The deadline clock starts (again) when a case is sent to a group."""
    await tx.execute(
        "UPDATE cases SET routed_at = ?, reminded_at = NULL, escalated_at = NULL WHERE id = ?",
        (utc(at), case_id),
    )


_UNACCEPTED = "'baru', 'menunggu_rute', 'diteruskan', 'bukan_kewenangan'"
"""Statuses of a case that no group has accepted yet (spelled as in the partial indexes
`cases_due_reminder` and `cases_due_escalation`, which the queries must match)."""


async def _unaccepted_since(tx: Tx, routed_before: str, not_yet: str, limit: int) -> list[Case]:
    """Forwarded cases nobody has accepted since `routed_before` whose `not_yet` column
    (reminded_at or escalated_at) is still empty: a partial index holds just those, so
    the check every minute does not read the cases reminded long ago."""
    index = {"reminded_at": "cases_due_reminder", "escalated_at": "cases_due_escalation"}[not_yet]
    async with tx.execute(  # named: without statistics the planner would take the wider status index
        f"SELECT {_CASE_COLUMNS} FROM cases{dialect.of(tx).indexed_by(index)}"
        f" WHERE {not_yet} IS NULL AND status IN ({_UNACCEPTED})"
        " AND routed_at <= ? ORDER BY routed_at LIMIT ?", (utc(routed_before), limit),
    ) as cur:
        return [case_of(tx, row) for row in await cur.fetchall()]


async def due_reminders(tx: Tx, routed_before: str, limit: int = 100) -> list[Case]:
    return await _unaccepted_since(tx, routed_before, "reminded_at", limit)


async def due_escalations(tx: Tx, routed_before: str, limit: int = 100) -> list[Case]:
    return await _unaccepted_since(tx, routed_before, "escalated_at", limit)


async def mark_reminded(tx: Tx, case_id: int, at: str) -> None:
    await tx.execute("UPDATE cases SET reminded_at = ? WHERE id = ?", (utc(at), case_id))


async def mark_escalated(tx: Tx, case_id: int, at: str) -> None:
    await tx.execute("UPDATE cases SET escalated_at = ? WHERE id = ?", (utc(at), case_id))


async def waiting_for_route(tx: Tx, area: str | None = None) -> list[Case]:
    """Cases waiting for a route; with `area`, only those a route for that region could
    take: the region's own, or its province's (a case falls back to its province). A case
    stays "menunggu rute" until its card is in a group; once a post is on its way, it is
    no longer waiting (forwarding it again sent a second card)."""
    sql = (f"SELECT {_CASE_COLUMNS} FROM cases WHERE status = 'menunggu_rute'"
           " AND NOT EXISTS (SELECT 1 FROM case_posts p WHERE p.case_id = cases.id AND p.active = 1)")
    params: tuple[str, ...] = ()
    if area is not None:
        sql, params = sql + " AND (region_code = ? OR province_code = ?)", (area, area)
    async with tx.execute(sql + " ORDER BY id", params) as cur:
        return [case_of(tx, row) for row in await cur.fetchall()]


async def add_evidence(tx: Tx, case_id: int, items: list[NewEvidence], at: str) -> None:
    """More evidence for a submitted case (a reporter's answer to an officer)."""
    row = await fetch_one(tx, "SELECT coalesce(max(position), 0) FROM evidence WHERE case_id = ?", (case_id,))
    start = int(row[0]) + 1 if row else 1
    await _insert_evidence(tx, case_id, items, start, at)


async def _insert_evidence(tx: Tx, case_id: int, items: list[NewEvidence], start: int, at: str) -> None:
    await tx.executemany(
        "INSERT INTO evidence (case_id, position, kind, channel_ref, channel_unique_ref, mime, size, sha256,"
        " file_name, created_at, url, held, text, origin, origin_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(case_id, i, e.kind, EVIDENCE.seal(tx, "channel_ref", e.channel_ref),
          EVIDENCE.seal(tx, "channel_unique_ref", e.channel_unique_ref), e.mime, e.size, e.sha256,
          EVIDENCE.seal(tx, "file_name", e.file_name), at, EVIDENCE.seal(tx, "url", e.url), int(e.held),
          EVIDENCE.seal(tx, "text", e.text), EVIDENCE.seal(tx, "origin", e.origin), e.origin_at)
         for i, e in enumerate(items, start=start)],
    )


async def last_actor(tx: Tx, case_id: int) -> CaseEvent | None:
    """The latest status change made by someone other than the reporter or the system."""
    row = await fetch_one(
        tx, f"SELECT {_EVENT_COLUMNS} FROM case_events WHERE case_id = ? AND actor_name IS NOT NULL"
        " ORDER BY id DESC LIMIT 1", (case_id,))
    return _event(tx, row) if row else None


async def recent(tx: Tx, limit: int = 50, offset: int = 0) -> list[Case]:
    async with tx.execute(
        f"SELECT {_CASE_COLUMNS} FROM cases ORDER BY id DESC LIMIT ? OFFSET ?", (limit, offset)
    ) as cur:
        return [case_of(tx, row) for row in await cur.fetchall()]


async def by_reporter(tx: Tx, reporter_id: int) -> list[Case]:
    async with tx.execute(
        f"SELECT {_CASE_COLUMNS} FROM cases WHERE reporter_id = ? ORDER BY id", (reporter_id,)
    ) as cur:
        return [case_of(tx, row) for row in await cur.fetchall()]


async def evidence_of(tx: Tx, case_id: int) -> list[Evidence]:
    async with tx.execute(
        f"SELECT {_EVIDENCE_COLUMNS} FROM evidence WHERE case_id = ? ORDER BY position", (case_id,)
    ) as cur:
        return [_evidence(tx, row) for row in await cur.fetchall()]


def _evidence(tx: Tx, row: Any) -> Evidence:
    values = EVIDENCE.opened(tx, _EVIDENCE_NAMES, row)
    values[12] = bool(values[12])  # held: 0/1 in both dialects
    return Evidence(*values)


async def events_of(tx: Tx, case_id: int) -> list[CaseEvent]:
    async with tx.execute(
        f"SELECT {_EVENT_COLUMNS} FROM case_events WHERE case_id = ? ORDER BY id", (case_id,)
    ) as cur:
        return [_event(tx, row) for row in await cur.fetchall()]


async def count(tx: Tx) -> int:
    async with tx.execute("SELECT count(*) FROM cases") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0
