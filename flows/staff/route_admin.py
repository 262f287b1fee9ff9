"""Registering focal points: the same rules for `/daftar_fokus` in a group and for
`python -m bot routes` in a shell.

A route an admin (or the shell) adds takes effect at once and forwards the cases that were
waiting for one. A route a moderator adds waits for an admin (`confirm`, a button in the
admin's private chat or `python -m bot routes approve`): until then the group receives no
case, and the waiting cases are forwarded only on confirmation. Every change (requested,
added, confirmed, refused, removed) is announced to each admin privately, with who made
it, and recorded in the routes' audit trail (`route_events`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from flows import menus, regions
from flows.case import forwarding, notify
from flows.case.lifecycle import find_region
from flows.i18n import gettext_for
from flows.policy import Policy
from flows.replies import ChoicesReply, Option, Reply, TextReply, to_dict
from storage import Tx, case_posts, outbox, routes
from storage.rosters import is_roster
from storage.routes import Route

log = logging.getLogger(__name__)

SCOPES = tuple(g.id for g in menus.AGENCY_GROUPS)


@dataclass(frozen=True, slots=True)
class Added:
    region: regions.Region | None
    route: Route | None
    created: bool = False
    forwarded: tuple[str, ...] = ()
    candidates: tuple[regions.Region, ...] = ()
    bad_scope: bool = False

    @property
    def pending(self) -> bool:
        return self.route is not None and self.route.pending


CONFIRM = "route_confirm"
REFUSE = "route_refuse"
"""Option ids of the buttons under an announcement of a pending route (with the route's id)."""


def split_scope(args: str) -> tuple[str, str]:
    """`"51.71 pusat"` -> ("51.71", "pusat"); a trailing agency group id narrows a route."""
    words = args.split()
    if len(words) > 1 and words[-1].lower() in SCOPES:
        return " ".join(words[:-1]), words[-1].lower()
    return args.strip(), ""


async def add(tx: Tx, policy: Policy, query: str, chat_id: int, *, scope: str = "",
              title: str | None = None, by: str, at: str, by_name: str | None = None,
              confirmed: bool = True) -> Added:
    """`confirmed`: the change takes effect at once (an admin, the shell); else a new route
    waits for an admin."""
    if scope and scope not in SCOPES:
        return Added(None, None, bad_scope=True)
    found = find_region(query)
    if found is None or isinstance(found, list):
        return Added(None, None, candidates=tuple(found or ()))
    before = await routes.of_chat(tx, chat_id)
    was = next((r for r in before if r.region_code == found.code and r.agency_scope == scope), None)
    route, created = await routes.add(tx, found.code, chat_id, scope=scope, title=title, by=by, at=at,
                                      confirmed=confirmed)
    if route.pending:
        if was is None:
            await routes.record(tx, route, "requested", by, by_name, at)
            await _announce(tx, policy, route, "requested", by, by_name, at)
        return Added(found, route, created)
    if was is None or was.pending:
        await routes.record(tx, route, "confirmed" if was is not None else "added", by, by_name, at)
        await _announce(tx, policy, route, "confirmed" if was is not None else "added", by, by_name, at)
    forwarded = await forwarding.route_waiting(tx, policy, found.code, at, by, by_name)
    return Added(found, route, created, tuple(forwarded))


async def confirm(tx: Tx, policy: Policy, route_id: int, *, by: str, by_name: str | None, at: str) -> Added | None:
    """An admin's yes: the route takes effect, the waiting cases of its region are
    forwarded, the group is told. None when no such route is waiting."""
    route = await routes.confirm(tx, route_id, by, at)
    if route is None:
        return None
    await routes.record(tx, route, "confirmed", by, by_name, at)
    forwarded = await forwarding.route_waiting(tx, policy, route.region_code, at, by, by_name)
    await _announce(tx, policy, route, "confirmed", by, by_name, at)
    added = Added(regions.get(route.region_code), route, False, tuple(forwarded))
    if not is_roster(route.chat_id):  # a roster's officers hear of it from their invitation
        await notify.group(tx, route.chat_id, describe_added(added, policy.default_locale), at)
    return added


async def refuse(tx: Tx, policy: Policy, route_id: int, *, by: str, by_name: str | None, at: str) -> Route | None:
    """An admin's no: the pending route goes, and the group is told."""
    route = await routes.refuse(tx, route_id)
    if route is None:
        return None
    await routes.record(tx, route, "refused", by, by_name, at)
    await _announce(tx, policy, route, "refused", by, by_name, at)
    if is_roster(route.chat_id):
        return route
    _ = gettext_for(policy.default_locale)
    await notify.group(tx, route.chat_id, _("An admin did not confirm this group for {region}: it receives no "
                                            "reports for it.").format(region=region_text(route)), at)
    return route


async def _announce(tx: Tx, policy: Policy, route: Route, action: str, by: str, by_name: str | None, at: str) -> None:
    """Each admin hears of the change privately, with who made it; a pending one comes with
    the buttons to decide."""
    if not policy.admin_ids:  # a request nobody can confirm is worth a warning; a done change is not
        (log.warning if action == "requested" else log.info)(
            "no admin configured: a route change (%s) was announced to nobody", action)
        return
    _ = gettext_for(policy.default_locale)
    who = actor_text(_, policy, by, by_name)
    group = chat_text(_, route)
    text = {
        "requested": _("Route waiting for you: {who} asks that group {group} receive the reports of {region}. "
                       "It receives nothing until an admin confirms."),
        "added": _("Route added by {who}: group {group} now receives the reports of {region}."),
        "confirmed": _("Route confirmed by {who}: group {group} now receives the reports of {region}."),
        "refused": _("Route refused by {who}: group {group} will not receive the reports of {region}."),
        "removed": _("Route removed by {who}: group {group} no longer receives the reports of {region}."),
    }[action].format(who=who, group=group, region=region_text(route))
    reply: Reply = TextReply(text)
    if action == "requested":
        reply = ChoicesReply(text, (Option(f"{CONFIRM}:{route.id}", _("Confirm")),
                                    Option(f"{REFUSE}:{route.id}", _("Refuse"))), notify.STATUS_TOKEN)
    for admin in sorted(policy.admin_ids):
        await outbox.enqueue(tx, notify.GROUP_CHANNEL, str(admin), "send",
                             {"replies": [to_dict(reply)], "locale": policy.default_locale}, at)


def chat_text(_: Callable[[str], str], route: Route) -> str:
    """A route's focal point as staff read it: a group's title and id; a roster's title."""
    if is_roster(route.chat_id):
        return _("{title} [WhatsApp]").format(title=route.chat_title or _("WhatsApp officers"))
    return f"{route.chat_title or ''} [{route.chat_id}]".strip()


def actor_text(_: Callable[[str], str], policy: Policy, by: str, by_name: str | None) -> str:
    user = by.removeprefix("telegram:")
    if by == "shell":
        return _("the shell (python -m bot routes)")
    role = _("admin") if user.lstrip("-").isdecimal() and int(user) in policy.admin_ids else _("moderator")
    return f"{role} {by_name or '-'} ({user})"


def region_text(route: Route) -> str:
    return area_text(route.region_code, route.agency_scope)


def area_text(code: str, scope: str = "") -> str:
    """"Kota Bontang (64.74)", with the agency group a route is narrowed to."""
    region = regions.get(code)
    text = f"{region.name if region else code} ({code})"
    if scope:
        text += f" · {scope}"
    return text


async def remove(tx: Tx, policy: Policy, chat_id: int, query: str | None, at: str, *, by: str = "shell",
                 by_name: str | None = None) -> tuple[list[Route], bool]:
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
    for route in removed:
        await routes.record(tx, route, "removed", by, by_name, at)
        await _announce(tx, policy, route, "removed", by, by_name, at)
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
        line += f" → {chat_text(_, route)}".replace("  ", " ")
    if route.status == "broken":
        line += " ⚠ " + _("broken: {reason}").format(reason=route.broken_reason or "-")
    if route.pending:
        line += " ⏳ " + _("waiting for an admin to confirm")
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
    if added.pending:
        return _("An admin must confirm that this group receives the reports of {region} ({code}); the admins "
                 "have been asked. Until then no report is sent here.").format(
            region=added.region.name, code=added.region.code)
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
