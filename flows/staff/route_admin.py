"""Registering focal points: the same rules for `/daftar_fokus` in a group and for
`python -m bot routes` in a shell. Adding a route also forwards the cases that were
waiting for one."""

from __future__ import annotations

from dataclasses import dataclass

from flows import menus, regions
from flows.case import forwarding
from flows.case.lifecycle import find_region
from flows.i18n import gettext_for
from flows.policy import Policy
from storage import Tx, case_posts, routes
from storage.routes import Route

SCOPES = tuple(g.id for g in menus.AGENCY_GROUPS)


@dataclass(frozen=True, slots=True)
class Added:
    region: regions.Region | None
    route: Route | None
    created: bool = False
    forwarded: tuple[str, ...] = ()
    candidates: tuple[regions.Region, ...] = ()
    bad_scope: bool = False


def split_scope(args: str) -> tuple[str, str]:
    """`"51.71 pusat"` -> ("51.71", "pusat"); a trailing agency group id narrows a route."""
    words = args.split()
    if len(words) > 1 and words[-1].lower() in SCOPES:
        return " ".join(words[:-1]), words[-1].lower()
    return args.strip(), ""


async def add(tx: Tx, policy: Policy, query: str, chat_id: int, *, scope: str = "",
              title: str | None = None, by: str, at: str) -> Added:
    if scope and scope not in SCOPES:
        return Added(None, None, bad_scope=True)
    found = find_region(query)
    if found is None or isinstance(found, list):
        return Added(None, None, candidates=tuple(found or ()))
    route, created = await routes.add(tx, found.code, chat_id, scope=scope, title=title, by=by, at=at)
    forwarded = await forwarding.route_waiting(tx, policy, found.code, at, by)
    return Added(found, route, created, tuple(forwarded))


async def remove(tx: Tx, policy: Policy, chat_id: int, query: str | None, at: str) -> tuple[list[Route], bool]:
    """Remove a chat's routes (one region's if given); False when the region is unknown.
    The cases that came to the chat by those routes leave it (`forwarding.release`)."""
    code = None
    if query:
        found = find_region(query)
        if not isinstance(found, regions.Region):
            return [], False
        code = found.code
    held = await case_posts.active_in_chat(tx, chat_id)  # before the routes go: posts name their route
    removed = await routes.remove(tx, chat_id, code)
    gone = {r.id for r in removed}
    orphaned = not await routes.of_chat(tx, chat_id) and chat_id != policy.default_focal_chat_id
    for post in held:
        if post.route_id in gone or (post.route_id is None and orphaned):
            await forwarding.release(tx, policy, post, at)
    return removed, True


def describe(route: Route, locale: str, with_chat: bool = False) -> str:
    """One line per route: region (code), agency scope, chat, and whether it is broken."""
    _ = gettext_for(locale)
    region = regions.get(route.region_code)
    line = f"{region.name if region else route.region_code} ({route.region_code})"
    if route.agency_scope:
        group = menus.agency_group(route.agency_scope)
        line += " · " + (_(group.label) if group else route.agency_scope)
    if with_chat:
        line += f" → {route.chat_title or ''} [{route.chat_id}]".replace("  ", " ")
    if route.status == "broken":
        line += " ⚠ " + _("broken: {reason}").format(reason=route.broken_reason or "-")
    return line


def describe_added(added: Added, locale: str) -> str:
    _ = gettext_for(locale)
    if added.bad_scope:
        return _("Unknown agency group. Use one of: {groups}.").format(groups=", ".join(SCOPES))
    if added.region is None:
        if added.candidates:
            options = "\n".join(f"• {r.name} ({r.code})" for r in added.candidates)
            return _("Which region do you mean? Send the command again with its code:\n{options}").format(
                options=options)
        return _("I don't know that region. Use a Kemendagri code such as 51.71 or a name such as "
                 "\"Kota Denpasar\".")
    assert added.route is not None
    if added.created:
        text = _("This group now receives reports for {region} ({code}).").format(
            region=added.region.name, code=added.region.code)
    else:
        text = _("This group already receives reports for {region} ({code}); the route is active.").format(
            region=added.region.name, code=added.region.code)
    if added.forwarded:
        text += "\n" + _("Cases that were waiting are queued and will be posted here shortly: {numbers}").format(
            numbers=", ".join(added.forwarded))
    return text
