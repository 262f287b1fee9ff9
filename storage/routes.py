"""Routes: which focal-point groups receive a region's cases (routing is data)."""

from __future__ import annotations

from dataclasses import dataclass

from storage.database import Tx, fetch_one


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


_COLUMNS = "id, region_code, agency_scope, chat_id, chat_title, status, broken_reason, created_by, created_at"


async def add(tx: Tx, region_code: str, chat_id: int, *, scope: str = "", title: str | None = None,
              by: str, at: str) -> tuple[Route, bool]:
    """Register (or repair) a destination. Returns the route and whether it is new;
    adding a broken route again marks it active, which is how a group is fixed."""
    existing = await fetch_one(
        tx, f"SELECT {_COLUMNS} FROM routes WHERE region_code = ? AND agency_scope = ? AND chat_id = ?",
        (region_code, scope, chat_id))
    if existing is not None:
        await tx.execute(
            "UPDATE routes SET status = 'active', broken_reason = NULL, chat_title = coalesce(?, chat_title)"
            " WHERE id = ?", (title, existing["id"]))
        route = await get(tx, int(existing["id"]))
        assert route is not None
        return route, False
    row = await fetch_one(
        tx, "INSERT INTO routes (region_code, agency_scope, chat_id, chat_title, created_by, created_at)"
        f" VALUES (?, ?, ?, ?, ?, ?) RETURNING {_COLUMNS}", (region_code, scope, chat_id, title, by, at))
    assert row is not None
    return Route(*row), True


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
    that group win over the region's general ones."""
    async with tx.execute(
        f"SELECT {_COLUMNS} FROM routes WHERE region_code = ? AND status = 'active'"
        " AND agency_scope IN (?, '') ORDER BY agency_scope DESC, id", (region_code, agency_group)
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
