"""Rosters: focal points on WhatsApp, as the numbers of the officers who serve them.

A roster is a focal point like a Telegram group, named everywhere (routes, case posts,
prompts, questions) by a `chat_id` below -2^53, a range no Telegram chat uses: Telegram's
ids have at most 52 significant bits. Officers' numbers are staff data (issue 24 decides
whether they are sealed at rest too); every statement about them is in this module.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.database import Row, Tx, fetch_one

ROSTER_BASE = -(2 ** 53)
"""A roster's chat id is `ROSTER_BASE - id`: below every Telegram chat id."""

MEMBER_STATUSES = ("waiting_admin", "invited", "active", "declined", "stopped", "removed")
CURRENT = ("waiting_admin", "invited", "active")
"""A number in one of these belongs to its roster (the others left or never joined)."""


def is_roster(chat_id: int) -> bool:
    return chat_id < ROSTER_BASE


@dataclass(frozen=True, slots=True)
class Roster:
    id: int
    chat_id: int
    title: str | None
    created_by: str
    created_at: str


@dataclass(frozen=True, slots=True)
class Member:
    id: int
    chat_id: int
    number: str
    position: int
    status: str
    region_code: str
    agency_scope: str
    route_id: int | None
    requested_by: str
    requested_name: str | None
    created_at: str
    confirmed_at: str | None
    confirmed_by: str | None
    answered_at: str | None
    last_case_id: int | None
    prompt_case_id: int | None
    prompt_action: str | None

    @property
    def ref(self) -> str:
        """How the audit trail names this officer (never by their number)."""
        return f"officer:{self.id}"

    @property
    def active(self) -> bool:
        return self.status == "active"


_ROSTER = "id, chat_id, title, created_by, created_at"
_MEMBER = ("id, chat_id, number, position, status, region_code, agency_scope, route_id, requested_by, requested_name,"
           " created_at, confirmed_at, confirmed_by, answered_at, last_case_id, prompt_case_id, prompt_action")


def _roster(row: Row) -> Roster:
    return Roster(*row)


def _member(row: Row) -> Member:
    return Member(*row)


async def create(tx: Tx, title: str | None, by: str, at: str) -> Roster:
    row = await fetch_one(tx, "INSERT INTO rosters (title, created_by, created_at) VALUES (?, ?, ?) RETURNING id",
                          (title, by, at))
    assert row is not None
    roster_id = int(row[0])
    await tx.execute("UPDATE rosters SET chat_id = ? WHERE id = ?", (ROSTER_BASE - roster_id, roster_id))
    return Roster(roster_id, ROSTER_BASE - roster_id, title, by, at)


async def get(tx: Tx, chat_id: int) -> Roster | None:
    row = await fetch_one(tx, f"SELECT {_ROSTER} FROM rosters WHERE chat_id = ?", (chat_id,))
    return _roster(row) if row else None


async def set_title(tx: Tx, chat_id: int, title: str) -> None:
    await tx.execute("UPDATE rosters SET title = ? WHERE chat_id = ?", (title, chat_id))


async def all_rosters(tx: Tx) -> list[Roster]:
    async with tx.execute(f"SELECT {_ROSTER} FROM rosters ORDER BY id") as cur:
        return [_roster(r) for r in await cur.fetchall()]


async def serving(tx: Tx, region_code: str, scope: str) -> Roster | None:
    """The (first) roster with a route for this region and agency group."""
    row = await fetch_one(
        tx, "SELECT r.id, r.chat_id, r.title, r.created_by, r.created_at FROM rosters AS r"
        " JOIN routes AS t ON t.chat_id = r.chat_id WHERE t.region_code = ? AND t.agency_scope = ? ORDER BY r.id LIMIT 1",
        (region_code, scope))
    return _roster(row) if row else None


async def member_by_number(tx: Tx, number: str) -> Member | None:
    row = await fetch_one(tx, f"SELECT {_MEMBER} FROM roster_members WHERE number = ?", (number,))
    return _member(row) if row else None


async def member(tx: Tx, member_id: int) -> Member | None:
    row = await fetch_one(tx, f"SELECT {_MEMBER} FROM roster_members WHERE id = ?", (member_id,))
    return _member(row) if row else None


async def members(tx: Tx, chat_id: int, statuses: tuple[str, ...] = MEMBER_STATUSES) -> list[Member]:
    marks = ", ".join("?" for _ in statuses)
    async with tx.execute(f"SELECT {_MEMBER} FROM roster_members WHERE chat_id = ? AND status IN ({marks})"
                          " ORDER BY position", (chat_id, *statuses)) as cur:
        return [_member(r) for r in await cur.fetchall()]


async def active(tx: Tx, chat_id: int) -> list[Member]:
    """The officers who said yes: the only ones who get anything of the roster's cases."""
    return await members(tx, chat_id, ("active",))


async def waiting_for_admin(tx: Tx) -> list[Member]:
    async with tx.execute(f"SELECT {_MEMBER} FROM roster_members WHERE status = 'waiting_admin' ORDER BY id") as cur:
        return [_member(r) for r in await cur.fetchall()]


async def join(tx: Tx, chat_id: int, number: str, status: str, region_code: str, scope: str, route_id: int | None,
               by: str, by_name: str | None, at: str) -> Member:
    """Put a number in a roster (again): a number is in one roster at a time, and keeps its
    position there if it was in it before; moving to another roster gives it the next one."""
    existing = await member_by_number(tx, number)
    confirmed_at, confirmed_by = (None, None) if status == "waiting_admin" else (at, by)
    if existing is not None and existing.chat_id == chat_id:
        row = await fetch_one(
            tx, f"UPDATE roster_members SET status = ?, region_code = ?, agency_scope = ?, route_id = ?,"
            " requested_by = ?, requested_name = ?, created_at = ?, confirmed_at = ?, confirmed_by = ?,"
            f" answered_at = NULL, prompt_case_id = NULL, prompt_action = NULL WHERE id = ? RETURNING {_MEMBER}",
            (status, region_code, scope, route_id, by, by_name, at, confirmed_at, confirmed_by, existing.id))
        assert row is not None
        return _member(row)
    position = await fetch_one(tx, "SELECT coalesce(max(position), 0) + 1 FROM roster_members WHERE chat_id = ?",
                               (chat_id,))
    assert position is not None
    if existing is not None:
        row = await fetch_one(
            tx, f"UPDATE roster_members SET chat_id = ?, position = ?, status = ?, region_code = ?, agency_scope = ?,"
            " route_id = ?, requested_by = ?, requested_name = ?, created_at = ?, confirmed_at = ?, confirmed_by = ?,"
            " answered_at = NULL, last_case_id = NULL, prompt_case_id = NULL, prompt_action = NULL"
            f" WHERE id = ? RETURNING {_MEMBER}",
            (chat_id, int(position[0]), status, region_code, scope, route_id, by, by_name, at, confirmed_at,
             confirmed_by, existing.id))
    else:
        row = await fetch_one(
            tx, "INSERT INTO roster_members (chat_id, number, position, status, region_code, agency_scope, route_id,"
            " requested_by, requested_name, created_at, confirmed_at, confirmed_by)"
            f" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {_MEMBER}",
            (chat_id, number, int(position[0]), status, region_code, scope, route_id, by, by_name, at, confirmed_at,
             confirmed_by))
    assert row is not None
    return _member(row)


async def move(tx: Tx, member_id: int, status: str, at: str, *, from_statuses: tuple[str, ...]) -> Member | None:
    """Change a member's standing if it is one of `from_statuses` (None: it was not, so
    someone else decided first). An officer's own answer is timed in `answered_at`."""
    marks = ", ".join("?" for _ in from_statuses)
    row = await fetch_one(
        tx, f"UPDATE roster_members SET status = ?, answered_at = ?, prompt_case_id = NULL, prompt_action = NULL"
        f" WHERE id = ? AND status IN ({marks}) RETURNING {_MEMBER}", (status, at, member_id, *from_statuses))
    return _member(row) if row else None


async def confirm(tx: Tx, member_id: int, by: str, at: str) -> Member | None:
    """An admin's yes to a number a moderator added: it is invited now."""
    row = await fetch_one(
        tx, "UPDATE roster_members SET status = 'invited', confirmed_at = ?, confirmed_by = ?"
        f" WHERE id = ? AND status = 'waiting_admin' RETURNING {_MEMBER}", (at, by, member_id))
    return _member(row) if row else None


async def set_last_case(tx: Tx, member_id: int, case_id: int) -> None:
    await tx.execute("UPDATE roster_members SET last_case_id = ? WHERE id = ?", (case_id, member_id))


async def set_prompt(tx: Tx, member_id: int, case_id: int | None, action: str | None) -> None:
    await tx.execute("UPDATE roster_members SET prompt_case_id = ?, prompt_action = ? WHERE id = ?",
                     (case_id, action, member_id))


async def has_active(tx: Tx, chat_id: int) -> bool:
    return await fetch_one(tx, "SELECT 1 FROM roster_members WHERE chat_id = ? AND status = 'active' LIMIT 1",
                           (chat_id,)) is not None
