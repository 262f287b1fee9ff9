"""`python -m bot routes add|remove|list|import`: focal points from the shell (Telegram groups
by their id, officers' WhatsApp numbers as `whatsapp:+62…`), with the same rules as
`/daftar_fokus`, in the shell's voice. Bad input is refused in one line before anything is
written."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

from bot.config import Settings
from bot.shell import Shell
from flows import regions
from flows.case import rosters as rosters_text
from flows.case.lifecycle import find_region
from flows.i18n import N_
from flows.staff import roster_admin, route_admin
from storage import rosters, routes
from storage.routes import Route

ACTOR = "shell"


def region_or_refuse(shell: Shell, query: str) -> regions.Region:
    """One region from a code or a name; unknown or ambiguous: a one-line refusal."""
    _ = shell._
    found = find_region(query)
    if isinstance(found, regions.Region):
        return found
    if found:
        shell.refuse(_("\"{value}\" matches several regions: {options}. Give the code.").format(
            value=query, options="; ".join(f"{r.name} ({r.code})" for r in found)))
    shell.refuse(_("\"{value}\" is not a region: give a Kemendagri code such as 51.71 or a name such as "
                   "\"Kota Denpasar\".").format(value=query))


def group_or_refuse(shell: Shell, chat_id: int) -> int:
    if chat_id >= 0:
        shell.refuse(shell._("{chat} is not a group: a Telegram group's id is negative, for example "
                             "-1001234567890 (a positive id is a person). Or send /daftar_fokus in the group "
                             "itself.").format(chat=chat_id))
    return chat_id


def scope_or_refuse(shell: Shell, agency: str) -> str:
    if agency and agency not in route_admin.SCOPES:
        shell.refuse(shell._("--agency: unknown agency group \"{value}\". Use one of: {groups}.").format(
            value=agency, groups=", ".join(route_admin.SCOPES)))
    return agency


def describe(shell: Shell, route: Route) -> str:
    return route_admin.describe(route, shell.locale, with_chat=True)


def say_queued(shell: Shell, numbers: list[str] | tuple[str, ...]) -> None:
    if numbers:
        shell.say(shell.ngettext(
            "{count} waiting case is now queued for delivery: {numbers}. The running service (run or serve) "
            "posts it within seconds; if none is running, as soon as one starts.",
            "{count} waiting cases are now queued for delivery: {numbers}. The running service (run or serve) "
            "posts them within seconds; if none is running, as soon as one starts.",
            len(numbers)).format(count=len(numbers), numbers=", ".join(numbers)))


async def add(settings: Settings, shell: Shell, region: str, chat_id: int | str, agency: str, title: str | None) -> int:
    if isinstance(chat_id, str):
        return await add_number(settings, shell, region, chat_id, agency, title)
    found = region_or_refuse(shell, region)
    group_or_refuse(shell, chat_id)
    scope_or_refuse(shell, agency)
    async with settings.opened_database() as db:
        async with db.transaction() as tx:
            added = await route_admin.add(tx, settings.policy(), found.code, chat_id, scope=agency, title=title,
                                          by=ACTOR, at=datetime.now(UTC).isoformat())
    assert added.route is not None
    _ = shell._
    shell.say((_("Route added: {route}.") if added.created else _("Route already there, and active: {route}."))
              .format(route=describe(shell, added.route)))
    say_queued(shell, added.forwarded)
    return 0


async def add_number(settings: Settings, shell: Shell, region: str, number: str, agency: str,
                     title: str | None) -> int:
    """`routes add 64.74 whatsapp:+62… --title …`: the number joins the region's roster (or
    brings its roster to the region) and is invited; it gets cases once the officer says yes."""
    found = region_or_refuse(shell, region)
    scope_or_refuse(shell, agency)
    async with settings.opened_database() as db:
        async with db.transaction() as tx:
            added = await roster_admin.add_number(tx, settings.policy(), found.code, number, scope=agency, title=title,
                                                 by=ACTOR, at=datetime.now(UTC).isoformat())
    shell.say(roster_admin.describe_added(added, shell.locale))
    if not (settings.whatsapp_enabled and settings.public_base_url):
        shell.warn(shell._("WhatsApp is not set up here (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_WHATSAPP_FROM "
                           "and PUBLIC_BASE_URL): the service sends this officer nothing until it is."))
    return 0


async def decide(settings: Settings, shell: Shell, route_id: int | str, approve: bool) -> int:
    """`routes approve|refuse ID` (or a WhatsApp number): the shell decides as an admin does
    with the buttons."""
    _ = shell._
    if isinstance(route_id, str):
        return await decide_number(settings, shell, route_id, approve)
    async with settings.opened_database() as db:
        async with db.transaction() as tx:
            at = datetime.now(UTC).isoformat()
            done: route_admin.Added | None = None
            if approve:
                done = await route_admin.confirm(tx, settings.policy(), route_id, by=ACTOR, by_name=None, at=at)
                route = done.route if done else None
            else:
                route = await route_admin.refuse(tx, settings.policy(), route_id, by=ACTOR, by_name=None, at=at)
    if route is None:
        shell.refuse(_("No route {id} is waiting for an admin; `python -m bot routes pending` lists those that "
                       "are.").format(id=route_id))
    shell.say((_("Route confirmed: {route}.") if approve else _("Route refused: {route}.")).format(
        route=describe(shell, route)))
    if done is not None:
        say_queued(shell, done.forwarded)
    return 0


async def decide_number(settings: Settings, shell: Shell, number: str, approve: bool) -> int:
    _ = shell._
    async with settings.opened_database() as db:
        async with db.transaction() as tx:
            member = await rosters.member_by_number(tx, number)
            at = datetime.now(UTC).isoformat()
            done = None
            if member is not None and member.status == "waiting_admin":
                decide_ = roster_admin.confirm if approve else roster_admin.refuse
                done = await decide_(tx, settings.policy(), member.id, by=ACTOR, by_name=None, at=at)
    if done is None:
        shell.refuse(_("WhatsApp number {number} is not waiting for an admin; `python -m bot routes pending` lists "
                       "what is.").format(number=number))
    shell.say((_("Confirmed: WhatsApp number {number} is invited; it gets cases once the officer says yes.")
               if approve else _("Refused: WhatsApp number {number} receives nothing.")).format(number=number))
    return 0


async def pending(settings: Settings, shell: Shell) -> int:
    _ = shell._
    async with settings.opened_database() as db:
        async with db.reading() as tx:
            found = await routes.pending(tx)
            numbers = await rosters.waiting_for_admin(tx)
    for route in found:
        shell.say(_("{id}: {route}, asked for by {who} on {when}").format(
            id=route.id, route=describe(shell, route), who=route.created_by, when=shell.when(route.created_at)))
    for member in numbers:
        shell.say(_("whatsapp:{number}: {region}, asked for by {who} on {when}").format(
            number=member.number, region=route_admin.area_text(member.region_code, member.agency_scope),
            who=member.requested_by, when=shell.when(member.created_at)))
    if not found and not numbers:
        shell.say(_("No route is waiting for an admin."))
    return 0


async def log(settings: Settings, shell: Shell) -> int:
    _ = shell._
    async with settings.opened_database() as db:
        async with db.reading() as tx:
            found = await routes.events(tx)
    for event in found:
        scope = f" {event.agency_scope}" if event.agency_scope else ""
        who = event.actor + (f" ({event.actor_name})" if event.actor_name else "")
        where = f"whatsapp:{event.officer}" if event.officer else str(event.chat_id)
        shell.say(f"{shell.when(event.at)} {event.action} {event.region_code}{scope} → {where}, {who}")
    if not found:
        shell.say(_("No route changes yet."))
    return 0


async def remove(settings: Settings, shell: Shell, chat_id: int | str, region: str | None) -> int:
    _ = shell._
    code = region_or_refuse(shell, region).code if region else None
    if isinstance(chat_id, str):
        return await remove_number(settings, shell, chat_id, code)
    async with settings.opened_database() as db:
        async with db.reading() as tx:
            present = [r for r in await routes.of_chat(tx, chat_id) if code is None or r.region_code == code]
        if not present:
            shell.refuse((_("Group {chat} has no route for {region}; `python -m bot routes list` shows the routes.")
                          if code else _("Group {chat} has no route; `python -m bot routes list` shows the routes."))
                         .format(chat=chat_id, region=code))
        async with db.transaction() as tx:
            removed, _known = await route_admin.remove(tx, settings.policy(), chat_id, code,
                                                       datetime.now(UTC).isoformat())
    for route in removed:
        shell.say(_("Route removed: {route}.").format(route=describe(shell, route)))
    return 0


async def remove_number(settings: Settings, shell: Shell, number: str, code: str | None) -> int:
    """Without a region the number leaves its roster; with one, its roster stops serving it."""
    _ = shell._
    async with settings.opened_database() as db:
        async with db.transaction() as tx:
            member, removed = await roster_admin.remove(tx, settings.policy(), number, code,
                                                        datetime.now(UTC).isoformat())
    if member is None or (code and not removed):
        shell.refuse((_("WhatsApp number {number} has no route for {region}; `python -m bot routes list` shows the "
                        "routes.") if code else _("WhatsApp number {number} is in no roster; `python -m bot routes "
                                                  "list` shows the routes.")).format(number=number, region=code))
    if not code:
        shell.say(_("WhatsApp number {number} no longer receives reports.").format(number=number))
    for route in removed:
        shell.say(_("Route removed: {route}.").format(route=describe(shell, route)))
    return 0


STANDING = {"waiting_admin": N_("waiting for an admin"), "invited": N_("invited, no answer yet"),
            "active": N_("receives cases"), "declined": N_("declined"), "stopped": N_("sent STOP"),
            "removed": N_("removed")}


async def listing(settings: Settings, shell: Shell) -> int:
    _ = shell._
    async with settings.opened_database() as db:
        async with db.reading() as tx:
            found = await routes.all_routes(tx)
            members = {r.chat_id: await rosters.members(tx, r.chat_id) for r in await rosters.all_rosters(tx)}
    for route in found:
        shell.say(describe(shell, route))
    for chat_id, people in members.items():
        titled = next((r.chat_title for r in found if r.chat_id == chat_id and r.chat_title), None)
        if people:
            shell.say(_("Officers of {roster}:").format(roster=titled or "WhatsApp"))
        for member in people:
            shell.say(f"  {rosters_text.officer_name(shell.locale, member)} whatsapp:{member.number} · "
                      f"{_(STANDING[member.status])}")
    if not found:
        shell.say(shell._("No routes yet: `python -m bot routes add <region> <group id>` adds one."))
    return 0


async def import_csv(settings: Settings, shell: Shell, path: Path) -> int:
    """Columns `region` (code or name) and `chat_id`, optional `agency` and `title`. All
    good rows are added in one transaction; bad rows are listed and the exit code is 1.
    A file that cannot be read, or lacks the columns, changes nothing (exit code 2)."""
    _ = shell._
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            columns = set(reader.fieldnames or ())
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        shell.refuse(_("{path} cannot be read ({reason}): give a CSV file with the columns region,chat_id[,agency,title]."
                       ).format(path=path, reason=type(exc).__name__))
    if not {"region", "chat_id"} <= columns:
        shell.refuse(_("{path} needs the columns region and chat_id (and optionally agency and title) in its first "
                       "line.").format(path=path))
    problems: list[str] = []
    good: list[tuple[int, regions.Region, int | str, str, str | None]] = []
    for line, row in enumerate(rows, start=2):
        region_text = (row.get("region") or "").strip()
        scope = (row.get("agency") or "").strip().lower()
        given = (row.get("chat_id") or "").strip()
        chat_id: int | str
        if roster_admin.looks_like_number(given):
            number = roster_admin.normalize_number(given)
            if number is None:
                problems.append(_("line {line}: \"{value}\" is not a WhatsApp number").format(line=line, value=given))
                continue
            chat_id = number
        else:
            try:
                chat_id = int(given)
            except ValueError:
                problems.append(_("line {line}: chat_id is not a number").format(line=line))
                continue
        found = find_region(region_text)
        if not isinstance(found, regions.Region):
            problems.append((_("line {line}: \"{value}\" matches several regions; give the code") if found
                             else _("line {line}: \"{value}\" is not a region")).format(line=line, value=region_text))
        elif isinstance(chat_id, int) and chat_id >= 0:
            problems.append(_("line {line}: {chat} is not a group (a group's id is negative)").format(
                line=line, chat=chat_id))
        elif scope and scope not in route_admin.SCOPES:
            problems.append(_("line {line}: unknown agency group \"{value}\"").format(line=line, value=scope))
        else:
            good.append((line, found, chat_id, scope, (row.get("title") or "").strip() or None))
    added = 0
    queued: list[str] = []
    if good:
        async with settings.opened_database() as db:
            async with db.transaction() as tx:
                for _line, region, chat_id, scope, title in good:
                    at = datetime.now(UTC).isoformat()
                    if isinstance(chat_id, str):  # an officer's number: invited, as with `routes add`
                        joined = await roster_admin.add_number(tx, settings.policy(), region.code, chat_id,
                                                               scope=scope, title=title, by=ACTOR, at=at)
                        added += joined.joined
                        queued.extend(joined.forwarded)
                        continue
                    result = await route_admin.add(tx, settings.policy(), region.code, chat_id, scope=scope,
                                                   title=title, by=ACTOR, at=at)
                    added += result.created
                    queued.extend(result.forwarded)
    shell.say(shell.ngettext("{count} route added from {file}.", "{count} routes added from {file}.", added).format(
        count=added, file=path.name))
    say_queued(shell, queued)
    for problem in problems:
        shell.warn(problem)
    return 1 if problems else 0
