"""What focal-point officers do to a case, and what follows from it: a status change with
its audit event, every group message of the case edited, the reporter told.

Statuses: baru -> diteruskan -> diterima -> ditindaklanjuti -> selesai; from an open
status an officer may also answer "bukan kewenangan" (the case goes to another region)
or reject it with a reason ("ditolak").
"""

from __future__ import annotations

from dataclasses import dataclass

from flows import regions
from flows.case import forwarding, notify, rosters
from flows.policy import Policy
from flows.staff.audience import Audience
from storage import Tx, case_posts, cases
from storage.cases import Case

ACTIONS: dict[str, str] = {
    "accept": "diterima",
    "follow_up": "ditindaklanjuti",
    "finish": "selesai",
    "not_ours": "bukan_kewenangan",
    "reject": "ditolak",
}
"""Button action -> the status it sets. "ask" (Minta info) changes no status."""

_OPEN = frozenset({"accept", "not_ours", "reject", "ask"})
ALLOWED: dict[str, frozenset[str]] = {
    # A group that holds the case may act on it even before its delivery is recorded, and
    # after another group passed it on ("bukan_kewenangan" is the state of the old group).
    "baru": _OPEN, "menunggu_rute": _OPEN, "bukan_kewenangan": _OPEN, "diteruskan": _OPEN,
    "diterima": frozenset({"follow_up", "finish", "not_ours", "reject", "ask"}),
    "ditindaklanjuti": frozenset({"finish", "ask"}),
}
"""What can be done from each status; anything not listed here is closed for officers."""

NEEDS_INPUT = frozenset({"ask", "not_ours", "reject"})
"""Actions that need a typed answer first: the question, the new region, the reason."""


@dataclass(frozen=True, slots=True)
class Actor:
    """An officer: `ref` is stored in the audit trail, `name` is shown to their colleagues."""

    ref: str
    name: str


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    case: Case | None
    problem: str | None = None  # "unknown_case" | "not_here" | "not_allowed" | "bad_region" | "ambiguous"
    status: str | None = None


def allowed(status: str) -> frozenset[str]:
    return ALLOWED.get(status, frozenset())


async def check(tx: Tx, case_id: int, chat_id: int, action: str, *, to_change: bool = False) -> Outcome:
    """Whether this group may do this to this case now: only groups the case was sent to,
    and only what the case's status allows (someone else may have acted first).
    `to_change`: the status is about to be changed from what is read here, so the case is
    read locked; a card's delivery may be moving it to "diteruskan" at this moment."""
    case = await cases.get(tx, case_id, to_change=to_change)
    if case is None:
        return Outcome(False, None, "unknown_case")
    if not await Audience.group(chat_id).holds(tx, case_id):  # the group holds the case now
        return Outcome(False, case, "not_here")
    if action not in allowed(case.status):
        return Outcome(False, case, "not_allowed")
    return Outcome(True, case)


async def change_status(tx: Tx, policy: Policy, case_id: int, chat_id: int, action: str,
                        actor: Actor, at: str, note: str | None = None) -> Outcome:
    """Accept, follow up, finish or reject: one status change, seen by everyone involved."""
    verdict = await check(tx, case_id, chat_id, action, to_change=True)
    if not verdict.ok or verdict.case is None:
        return verdict
    case = verdict.case
    after = ACTIONS[action]
    if not await cases.set_status(tx, case.id, case.status, after, at, actor.ref, actor.name, note):
        return Outcome(False, case, "not_allowed")
    await notify.reporter_status(tx, case, after, at, note)
    await forwarding.refresh_posts(tx, case.id, at)
    await rosters.status_changed(tx, policy.default_locale, case, after, actor.ref, actor.name, at, note)
    return Outcome(True, case, status=after)


def find_region(query: str) -> regions.Region | list[regions.Region] | None:
    """A region from a code ("51.71") or a name ("Kota Denpasar"): one region, the
    candidates when the name is ambiguous, or None."""
    query = query.strip()
    exact = regions.get(query)
    if exact is not None:
        return exact
    found = regions.search(query)
    if len(found) == 1:
        return found[0]
    return found or None


async def reroute(tx: Tx, policy: Policy, case_id: int, chat_id: int, region_query: str,
                  actor: Actor, at: str) -> Outcome:
    """"Bukan kewenangan": this group hands the case to another region's focal points.
    Its own message stays (edited, without buttons); the reporter is told."""
    verdict = await check(tx, case_id, chat_id, "not_ours", to_change=True)
    if not verdict.ok or verdict.case is None:
        return verdict
    case = verdict.case
    target = find_region(region_query)
    if not isinstance(target, regions.Region):
        return Outcome(False, case, "ambiguous" if target else "bad_region")
    note = f"-> {target.code} {target.name}"
    if not await cases.set_status(tx, case.id, case.status, "bukan_kewenangan", at, actor.ref, actor.name, note):
        return Outcome(False, case, "not_allowed")
    post = await case_posts.in_chat(tx, case.id, chat_id)
    if post is not None:
        await case_posts.deactivate(tx, post.id)
    await cases.add_event(tx, case.id, at, actor.ref, "reroute", case.region_code, target.code, None, actor.name)
    await notify.reporter_status(tx, case, "bukan_kewenangan", at)
    await forwarding.refresh_posts(tx, case.id, at)
    locale = policy.default_locale  # the roster that let it go hears why; others only the new status
    await rosters.status_changed(tx, locale, case, "bukan_kewenangan", actor.ref, actor.name, at, posts=[chat_id])
    await rosters.status_changed(tx, locale, case, "bukan_kewenangan", actor.ref, actor.name, at, generic=True)
    moved = await cases.get(tx, case.id)
    assert moved is not None
    await forwarding.forward(tx, policy, moved, at, region_code=target.code,
                             province_code=target.province_code, exclude=frozenset({chat_id}))
    return Outcome(True, case, status="bukan_kewenangan")


async def force_status(tx: Tx, policy: Policy, case: Case, status: str, actor: Actor, at: str,
                       note: str | None = None) -> bool:
    """A moderator sets any status (`/setstatus`): audited, seen by the reporter and on
    every card like an officer's change. False when the case already has it."""
    if case.status == status:
        return False
    if not await cases.set_status(tx, case.id, case.status, status, at, actor.ref, actor.name, note):
        return False
    await notify.reporter_status(tx, case, status, at, note)
    await forwarding.refresh_posts(tx, case.id, at)
    await rosters.status_changed(tx, policy.default_locale, case, status, actor.ref, actor.name, at, note, generic=True)
    return True


async def reroute_by_staff(tx: Tx, policy: Policy, case: Case, region_query: str, actor: Actor,
                           at: str) -> Outcome:
    """`/alihkan` by a moderator: every group that holds the case lets it go, and it is
    forwarded to the named region (a waiting case included). The status is kept."""
    target = find_region(region_query)
    if not isinstance(target, regions.Region):
        return Outcome(False, case, "ambiguous" if target else "bad_region")
    for post in await case_posts.of_case(tx, case.id):
        await case_posts.deactivate(tx, post.id)
        await rosters.case_left(tx, policy.default_locale, post.chat_id, case, at)
    await cases.add_event(tx, case.id, at, actor.ref, "reroute", case.region_code, target.code, None, actor.name)
    await forwarding.refresh_posts(tx, case.id, at)
    await forwarding.forward(tx, policy, case, at, region_code=target.code, province_code=target.province_code)
    return Outcome(True, case, status=case.status)
