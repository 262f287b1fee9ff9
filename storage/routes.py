"""Routes: which focal-point groups receive a region's cases (routing is data)."""

from __future__ import annotations

from dataclasses import dataclass

from storage.database import Tx, fetch_one
from storage.rosters import ROSTER_BASE


@dataclass(frozen=True, slots=True)
class Route:
    id: int
    region_code: str
    agency_scope: str
    chat_id: int
    chat_title: str | None
    status: str
    broken_reason: str | None
    created_by: str
    created_at: str
    confirmed_at: str | None = None
    """None: waiting for an admin (a moderator's request); such a route receives no case."""
    confirmed_by: str | None = None

    @property
    def pending(self) -> bool:
        return self.confirmed_at is None


_COLUMNS = ("id, region_code, agency_scope, chat_id, chat_title, status, broken_reason, created_by, created_at,"
            " confirmed_at, confirmed_by")


async def add(tx: Tx, region_code: str, chat_id: int, *, scope: str = "", title: str | None = None,
              by: str, at: str, confirmed: bool = True) -> tuple[Route, bool]:
    """Register (or repair) a destination. Returns the route and whether it is new;
    adding a broken route again marks it active, which is how a group is fixed.
    `confirmed` False: a new route waits for an admin (`confirm`); a pending one is
    confirmed when added again with `confirmed`."""
    existing = await fetch_one(
        tx, f"SELECT {_COLUMNS} FROM routes WHERE region_code = ? AND agency_scope = ? AND chat_id = ?",
        (region_code, scope, chat_id))
    if existing is not None:
        await tx.execute(
            "UPDATE routes SET status = 'active', broken_reason = NULL, chat_title = coalesce(?, chat_title),"
            " confirmed_by = CASE WHEN confirmed_at IS NULL AND ? THEN ? ELSE confirmed_by END,"
            " confirmed_at = CASE WHEN confirmed_at IS NULL AND ? THEN ? ELSE confirmed_at END WHERE id = ?",
            (title, confirmed, by, confirmed, at, existing["id"]))
        route = await get(tx, int(existing["id"]))
        assert route is not None
        return route, False
    row = await fetch_one(
        tx, "INSERT INTO routes (region_code, agency_scope, chat_id, chat_title, created_by, created_at,"
        f" confirmed_at, confirmed_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}",
        (region_code, scope, chat_id, title, by, at, at if confirmed else None, by if confirmed else None))
    assert row is not None
    return Route(*row), True


async def confirm(tx: Tx, route_id: int, by: str, at: str) -> Route | None:
    """An admin confirms a pending route; None when there is no such pending route."""
    row = await fetch_one(tx, f"UPDATE routes SET confirmed_at = ?, confirmed_by = ? WHERE id = ?"
                              f" AND confirmed_at IS NULL RETURNING {_COLUMNS}", (at, by, route_id))
    return Route(*row) if row else None


async def refuse(tx: Tx, route_id: int) -> Route | None:
    """An admin refuses a pending route: it goes. None when there is no such pending route."""
    row = await fetch_one(tx, f"DELETE FROM routes WHERE id = ? AND confirmed_at IS NULL RETURNING {_COLUMNS}",
                          (route_id,))
    return Route(*row) if row else None


async def pending(tx: Tx) -> list[Route]:
    async with tx.execute(f"SELECT {_COLUMNS} FROM routes WHERE confirmed_at IS NULL ORDER BY id") as cur:
        return [Route(*row) for row in await cur.fetchall()]


@dataclass(frozen=True, slots=True)
class RouteEvent:
    at: str
    actor: str
    actor_name: str | None
    action: str
    route_id: int | None
    region_code: str
    agency_scope: str
    chat_id: int
    officer: str | None = None
    """The officer's number, for a change of a WhatsApp roster's membership."""


async def record(tx: Tx, route: Route, action: str, actor: str, actor_name: str | None, at: str) -> None:
    """The audit trail of routes: every change, with who made it."""
    await record_change(tx, action, actor, actor_name, at, route.id, route.region_code, route.agency_scope,
                        route.chat_id)


async def record_change(tx: Tx, action: str, actor: str, actor_name: str | None, at: str, route_id: int | None,
                        region_code: str, agency_scope: str, chat_id: int, officer: str | None = None) -> None:
    """One line of the trail; `officer`: the number a roster's change was about."""
    await tx.execute(
        "INSERT INTO route_events (at, actor, actor_name, action, route_id, region_code, agency_scope, chat_id,"
        " officer) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (at, actor, actor_name, action, route_id, region_code, agency_scope, chat_id, officer))


async def events(tx: Tx, limit: int = 100) -> list[RouteEvent]:
    """The latest changes, newest first."""
    async with tx.execute(
        "SELECT at, actor, actor_name, action, route_id, region_code, agency_scope, chat_id, officer FROM route_events"
        " ORDER BY id DESC LIMIT ?", (limit,)) as cur:
        return [RouteEvent(*row) for row in await cur.fetchall()]


async def get(tx: Tx, route_id: int) -> Route | None:
    row = await fetch_one(tx, f"SELECT {_COLUMNS} FROM routes WHERE id = ?", (route_id,))
    return Route(*row) if row else None


async def remove(tx: Tx, chat_id: int, region_code: str | None = None) -> list[Route]:
    """Remove a group's routes (all of them, or one region's); returns what was removed."""
    params: tuple[object, ...]
    if region_code is None:
        sql, params = f"DELETE FROM routes WHERE chat_id = ? RETURNING {_COLUMNS}", (chat_id,)
    else:
        sql = f"DELETE FROM routes WHERE chat_id = ? AND region_code = ? RETURNING {_COLUMNS}"
        params = (chat_id, region_code)
    async with tx.execute(sql, params) as cur:
        return [Route(*row) for row in await cur.fetchall()]


async def of_chat(tx: Tx, chat_id: int) -> list[Route]:
    async with tx.execute(
        f"SELECT {_COLUMNS} FROM routes WHERE chat_id = ? ORDER BY region_code, agency_scope", (chat_id,)
    ) as cur:
        return [Route(*row) for row in await cur.fetchall()]


async def all_routes(tx: Tx) -> list[Route]:
    async with tx.execute(f"SELECT {_COLUMNS} FROM routes ORDER BY region_code, agency_scope, chat_id") as cur:
        return [Route(*row) for row in await cur.fetchall()]


async def active_for(tx: Tx, region_code: str, agency_group: str) -> list[Route]:
    """The working destinations of one region for one agency group: routes narrowed to
    that group win over the region's general ones. A route waiting for an admin is none,
    and so is a WhatsApp roster in which nobody has said yes."""
    async with tx.execute(
        f"SELECT {_COLUMNS} FROM routes WHERE region_code = ? AND status = 'active' AND confirmed_at IS NOT NULL"
        " AND agency_scope IN (?, '') AND (chat_id >= ? OR EXISTS (SELECT 1 FROM roster_members AS m"
        "  WHERE m.chat_id = routes.chat_id AND m.status = 'active'))"
        " ORDER BY agency_scope DESC, id", (region_code, agency_group, ROSTER_BASE)
    ) as cur:
        found = [Route(*row) for row in await cur.fetchall()]
    narrowed = [r for r in found if r.agency_scope]
    return narrowed or found


async def mark_broken(tx: Tx, chat_id: int, reason: str) -> list[Route]:
    """Every route to a chat the bot can no longer post in; returns those that were active."""
    async with tx.execute(
        f"UPDATE routes SET status = 'broken', broken_reason = ? WHERE chat_id = ? AND status = 'active'"
        f" RETURNING {_COLUMNS}", (reason, chat_id)
    ) as cur:
        return [Route(*row) for row in await cur.fetchall()]


async def migrate_chat(tx: Tx, old_chat_id: int, new_chat_id: int) -> None:
    """A group upgraded to a supergroup gets a new id; its routes follow it."""
    await tx.execute(  # a route the new chat already has is not made twice (UPDATE OR IGNORE)
        "UPDATE routes SET chat_id = ? WHERE chat_id = ? AND NOT EXISTS (SELECT 1 FROM routes AS o"
        " WHERE o.region_code = routes.region_code AND o.agency_scope = routes.agency_scope AND o.chat_id = ?)",
        (new_chat_id, old_chat_id, new_chat_id))
    await tx.execute("DELETE FROM routes WHERE chat_id = ?", (old_chat_id,))
