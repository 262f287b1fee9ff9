"""Where a case gets forwarded: its region's focal-point groups, else its province's,
else the national default; with none at all it waits for a route and moderators are
told. Sending happens later, from the outbox; this module only decides and queues."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flows.case import notify, rosters
from flows.policy import Policy
from storage import Tx, case_posts, cases, outbox, routes
from storage.case_posts import CasePost
from storage.cases import Case

log = logging.getLogger(__name__)
FORWARDABLE = frozenset({"baru", "menunggu_rute", "bukan_kewenangan"})
"""Statuses from which a delivered post makes the case "diteruskan"."""


@dataclass(frozen=True, slots=True)
class Destination:
    chat_id: int
    route_id: int | None


async def destinations(tx: Tx, policy: Policy, region_code: str, province_code: str,
                       agency_group: str, exclude: frozenset[int] = frozenset()) -> list[Destination]:
    """The first level of the fallback chain that has a working destination."""
    levels = [region_code] if region_code == province_code else [region_code, province_code]
    for code in levels:
        found = [Destination(r.chat_id, r.id) for r in await routes.active_for(tx, code, agency_group)
                 if r.chat_id not in exclude]
        if found:
            return list({d.chat_id: d for d in found}.values())
    default = policy.default_focal_chat_id
    if default is not None and default not in exclude:
        return [Destination(default, None)]
    return []


async def forward(tx: Tx, policy: Policy, case: Case, at: str, *, region_code: str | None = None,
                  province_code: str | None = None, exclude: frozenset[int] = frozenset(),
                  tell_reporter: bool = True) -> list[Destination]:
    """Queue the case for every destination of its (or the given) region. With none, the
    case waits as "menunggu rute", the reporter is told (unless the step's own answer
    already said so: a new case) and moderators are alerted."""
    found = await destinations(tx, policy, region_code or case.region_code,
                               province_code or case.province_code, case.agency_group, exclude)
    for destination in found:
        post_id, _new = await case_posts.create(tx, case.id, destination.chat_id, destination.route_id, at)
        if rosters.is_roster(destination.chat_id):  # each officer of a WhatsApp roster, privately
            await rosters.post_case(tx, destination.chat_id, case.id, post_id, at)
        else:
            await outbox.enqueue(tx, notify.GROUP_CHANNEL, str(destination.chat_id), "post_case",
                                 {"case_id": case.id}, at, case_id=case.id, post_id=post_id)
    if found:
        await cases.mark_routed(tx, case.id, at)
        return found
    if case.status != "menunggu_rute":
        await cases.set_status(tx, case.id, case.status, "menunggu_rute", at, "system")
        if tell_reporter:
            await notify.reporter_status(tx, case, "menunggu_rute", at)
    _ = notify.staff_gettext(policy)
    await notify.moderators(tx, policy, at, _(
        "Case {number} has no focal point: nobody is registered for {region} or its province, "
        "and there is no default. Register a group with /daftar_fokus.").format(
            number=case.number, region=notify.region_name(region_code or case.region_code)), case.id)
    return []


async def post_delivered(tx: Tx, case_id: int, post_id: int, message_id: int, at: str) -> None:
    """The card is in the group (or with an officer of a roster, `message_id` then naming
    the delivery): remember its message (buttons and edits refer to it), and the first
    delivery makes the case "diteruskan" and tells the reporter."""
    await case_posts.set_message(tx, post_id, message_id)
    case = await cases.get(tx, case_id)
    if case is None or case.status not in FORWARDABLE:
        return
    if await cases.set_status(tx, case.id, case.status, "diteruskan", at, "system"):
        await notify.reporter_status(tx, case, "diteruskan", at)
        await refresh_posts(tx, case.id, at)  # the card just sent still says "baru"


async def refresh_posts(tx: Tx, case_id: int, at: str) -> None:
    """Queue an edit of every group message of the case, so each shows the current status.
    An edit renders the case as it is when sent, so one still waiting covers any later
    change: a busy case (related reports keep coming) costs its group one edit, not one per
    change, under Telegram's 20 messages a minute per group."""
    for post in await case_posts.of_case(tx, case_id, active_only=False):
        if post.message_id is not None and not rosters.is_roster(post.chat_id):  # WhatsApp edits nothing
            await outbox.enqueue_coalesced(tx, notify.GROUP_CHANNEL, str(post.chat_id), f"card:{post.id}",
                                           {"case_id": case_id}, at, at, kind="edit_case", case_id=case_id,
                                           post_id=post.id)


async def route_waiting(tx: Tx, policy: Policy, region_code: str, at: str, by: str = "system",
                        by_name: str | None = None) -> list[str]:
    """After a route for `region_code` is added (by `by`): queue the cases that were
    waiting and now have one, each with an audit event saying so. They stay "menunggu
    rute" until their card is in a group (`post_delivered`), like any new case. Only that
    region's cases can have gained one, so only they are read: the writer runs on the event
    loop, and reading every waiting case (thousands on a launch day, each with its route
    look-ups) paused every reporter each time a route was added.
    With a default focal point, every waiting case may go there: all are read, as before."""
    area = region_code if policy.default_focal_chat_id is None else None
    forwarded = []
    for case in await cases.waiting_for_route(tx, area):
        if await destinations(tx, policy, case.region_code, case.province_code, case.agency_group):
            await forward(tx, policy, case, at)
            # the route's region, not its group: a group never reads another group's chat id
            await cases.add_event(tx, case.id, at, by, "route_found", None, None, region_code, by_name)
            forwarded.append(case.number)
    return forwarded


async def chat_gone(tx: Tx, policy: Policy, chat_id: int, reason: str, at: str) -> None:
    """The bot can no longer post in a group: its routes are broken, what was queued for it
    is stopped, moderators are alerted, and cases that had not reached any group are
    forwarded along the fallback chain without it."""
    broken = await routes.mark_broken(tx, chat_id, reason)
    stopped = await outbox.fail_pending_to(tx, notify.GROUP_CHANNEL, str(chat_id), at, reason)
    if chat_id in policy.alert_chats():
        log.error("the moderators' chat is unreachable")  # alerting it would loop
    else:
        _ = notify.staff_gettext(policy)
        await notify.moderators(tx, policy, at, _(
            "The bot can no longer post in group {chat} ({reason}). Its routes ({regions}) are "
            "marked broken; add the bot back and send /daftar_fokus there again.").format(
            chat=await notify.chat_label(tx, policy, chat_id), reason=reason,
            regions=", ".join(sorted({notify.region_name(r.region_code) for r in broken})) or "-"))
    for case_id in sorted({d.case_id for d in stopped if d.kind == "post_case" and d.case_id}):
        case = await cases.get(tx, case_id)
        if case is None:
            continue
        post = await case_posts.in_chat(tx, case_id, chat_id)
        if post is not None:
            await case_posts.deactivate(tx, post.id)
        reached = [p for p in await case_posts.of_case(tx, case_id) if p.message_id is not None]
        if not reached:
            await forward(tx, policy, case, at, exclude=frozenset({chat_id}))


CLOSED = frozenset({"selesai", "ditolak"})


async def release(tx: Tx, policy: Policy, post: CasePost, at: str) -> None:
    """The group no longer holds the case (its route was removed): its card is edited to say
    the case moved, and an open case that no other group holds goes down the fallback chain."""
    await case_posts.deactivate(tx, post.id)
    case = await cases.get(tx, post.case_id)
    if case is None:
        return
    await cases.add_event(tx, case.id, at, "system", "route_removed", None, None, None)
    await refresh_posts(tx, case.id, at)
    await rosters.case_left(tx, policy.default_locale, post.chat_id, case, at)
    if case.status not in CLOSED and not await case_posts.of_case(tx, case.id):
        await forward(tx, policy, case, at, exclude=frozenset({post.chat_id}))


async def unreached(tx: Tx, policy: Policy, chat_id: int, at: str) -> list[str]:
    """Nobody in a WhatsApp roster receives its cases any more: each open case it holds
    whose card reached none of its officers leaves it, and goes down the fallback chain
    without it unless another focal point holds it, as when a group is gone (`chat_gone`).
    A case an officer has seen stays (the moderators are told of the empty roster)."""
    moved = []
    for post in await case_posts.active_in_chat(tx, chat_id):
        case = await cases.get(tx, post.case_id)
        if post.message_id is not None or case is None or case.status in CLOSED:
            continue
        await case_posts.deactivate(tx, post.id)
        if not await case_posts.of_case(tx, case.id):
            await forward(tx, policy, case, at, exclude=frozenset({chat_id}))
            moved.append(case.number)
    return moved


async def chat_migrated(tx: Tx, old_chat_id: int, new_chat_id: int) -> None:
    """A group became a supergroup: routes, posts and queued messages follow the new id."""
    await routes.migrate_chat(tx, old_chat_id, new_chat_id)
    await case_posts.migrate_chat(tx, old_chat_id, new_chat_id)
    await outbox.readdress(tx, notify.GROUP_CHANNEL, str(old_chat_id), str(new_chat_id))
