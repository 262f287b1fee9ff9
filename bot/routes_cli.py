"""`python -m bot routes add|remove|list|import`: focal points from the shell, with the
same rules as `/daftar_fokus` in a group."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

from bot.config import Settings
from flows.staff import route_admin
from storage import Database, routes

ACTOR = "shell"


async def add(settings: Settings, region: str, chat_id: int, agency: str, title: str | None) -> int:
    db = await Database.open(settings.database)
    try:
        async with db.transaction() as tx:
            added = await route_admin.add(tx, settings.policy(), region, chat_id, scope=agency, title=title,
                                          by=ACTOR, at=datetime.now(UTC).isoformat())
    finally:
        await db.close()
    print(route_admin.describe_added(added, settings.default_locale))
    return 0 if added.route else 1


async def remove(settings: Settings, chat_id: int, region: str | None) -> int:
    db = await Database.open(settings.database)
    try:
        async with db.transaction() as tx:
            removed, known = await route_admin.remove(tx, settings.policy(), chat_id, region,
                                                      datetime.now(UTC).isoformat())
    finally:
        await db.close()
    if not known:
        print(f"unknown region: {region}")
        return 1
    for route in removed:
        print("removed:", route_admin.describe(route, settings.default_locale, with_chat=True))
    return 0


async def decide(settings: Settings, route_id: int, approve: bool) -> int:
    """`routes approve|refuse ID`: the shell decides as an admin does with the buttons."""
    db = await Database.open(settings.database)
    try:
        async with db.transaction() as tx:
            at = datetime.now(UTC).isoformat()
            if approve:
                done = await route_admin.confirm(tx, settings.policy(), route_id, by=ACTOR, by_name=None, at=at)
                route = done.route if done else None
            else:
                route = await route_admin.refuse(tx, settings.policy(), route_id, by=ACTOR, by_name=None, at=at)
    finally:
        await db.close()
    if route is None:
        print(f"no route {route_id} is waiting for an admin")
        return 1
    print(("confirmed: " if approve else "refused: ") + route_admin.describe(route, settings.default_locale,
                                                                          with_chat=True))
    if approve and done is not None and done.forwarded:
        print("forwarded waiting cases:", ", ".join(done.forwarded))
    return 0


async def pending(settings: Settings) -> int:
    db = await Database.open(settings.database)
    try:
        async with db.reading() as tx:
            found = await routes.pending(tx)
    finally:
        await db.close()
    for route in found:
        print(f"{route.id}: " + route_admin.describe(route, settings.default_locale, with_chat=True)
              + f" (asked by {route.created_by} at {route.created_at})")
    if not found:
        print("no route is waiting")
    return 0


async def log(settings: Settings) -> int:
    db = await Database.open(settings.database)
    try:
        async with db.reading() as tx:
            found = await routes.events(tx)
    finally:
        await db.close()
    for event in found:
        scope = f" {event.agency_scope}" if event.agency_scope else ""
        print(f"{event.at} {event.action} {event.region_code}{scope} → {event.chat_id} by {event.actor}"
              + (f" ({event.actor_name})" if event.actor_name else ""))
    if not found:
        print("no route changes yet")
    return 0


async def listing(settings: Settings) -> int:
    db = await Database.open(settings.database)
    try:
        async with db.reading() as tx:
            found = await routes.all_routes(tx)
    finally:
        await db.close()
    for route in found:
        print(route_admin.describe(route, settings.default_locale, with_chat=True))
    if not found:
        print("no routes")
    return 0


async def import_csv(settings: Settings, path: Path) -> int:
    """Columns `region` (code or name) and `chat_id`, optional `agency` and `title`. All
    good rows are added in one transaction; bad rows are listed and the exit code is 1."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    db = await Database.open(settings.database)
    problems: list[str] = []
    added = 0
    forwarded: list[str] = []
    try:
        async with db.transaction() as tx:
            for line, row in enumerate(rows, start=2):
                region = (row.get("region") or "").strip()
                try:
                    chat_id = int((row.get("chat_id") or "").strip())
                except ValueError:
                    problems.append(f"line {line}: chat_id is not a number")
                    continue
                result = await route_admin.add(
                    tx, settings.policy(), region, chat_id, scope=(row.get("agency") or "").strip().lower(),
                    title=(row.get("title") or "").strip() or None, by=ACTOR, at=datetime.now(UTC).isoformat())
                if result.route is None:
                    problems.append(f"line {line}: {region}: " + route_admin.describe_added(result, "en"))
                    continue
                added += result.created
                forwarded.extend(result.forwarded)
    finally:
        await db.close()
    print(f"{added} routes added from {path.name}")
    if forwarded:
        print("forwarded waiting cases:", ", ".join(forwarded))
    for problem in problems:
        print(problem)
    return 1 if problems else 0
