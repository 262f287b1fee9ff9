"""Registering officers' WhatsApp numbers as focal points (rosters), with their consent:
the same rules for `python -m bot routes add 64.74 whatsapp:+62…` and for `/daftar_fokus`
with a number, as for a Telegram group (`route_admin.py`).

- Several numbers for one region (and agency group) form one roster; a number already in
  a roster brings its roster to the new region. A roster and a Telegram group may serve
  the same region: both get the case.
- A number an admin (or the shell) adds is invited at once; one a moderator adds waits for
  an admin (the buttons in the admin's private chat, or `routes approve whatsapp:+62…`),
  as a moderator's route does. Every change is announced to each admin privately and
  recorded in the routes' audit trail (`route_events`, with the officer's number).
- The invitation says who we are and what the officer will get. Only `ya` (or 1) makes the
  number active; until then, and after `tidak`, `STOP` or a removal, it gets nothing. A
  roster with nobody active counts as no route (`storage/routes.py`), so the fallback
  chain and the moderators' alert apply; the first "yes" forwards the cases that waited.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from flows import regions
from flows.case import forwarding, notify
from flows.case.lifecycle import find_region
from flows.case.rosters import CHANNEL, officer_name
from flows.i18n import gettext_for
from flows.policy import Policy
from flows.replies import ChoicesReply, Option, Reply, TextReply, to_dict
from flows.staff import route_admin
from storage import Tx, outbox, routes
from storage import rosters as roster_store
from storage.rosters import CURRENT, Member, Roster
from storage.routes import Route

log = logging.getLogger(__name__)

CONFIRM = "roster_confirm"
REFUSE = "roster_refuse"
"""Option ids of the buttons under the announcement of a number waiting for an admin."""
INVITATION_KEY = "invitation"
"""The outbox key of an officer's invitation: a newer one replaces one still waiting."""
INVITATION_TOKEN = 1
YES, NO = "yes", "no"
_NUMBER = re.compile(r"^\+[1-9]\d{7,14}$")


def normalize_number(text: str) -> str | None:
    """A WhatsApp number as Twilio writes it (`+6281300000001`), from the ways people type
    one: `whatsapp:+62…`, `+62 813-0000-0001`, `081300000001` (an Indonesian number)."""
    raw = text.strip().removeprefix("whatsapp:").strip()
    digits = re.sub(r"[\s().-]", "", raw)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    elif digits.startswith("0"):
        digits = "+62" + digits[1:]
    elif digits.startswith("62"):
        digits = "+" + digits
    return digits if _NUMBER.match(digits) else None


def looks_like_number(word: str) -> bool:
    """A word that is meant as a phone number, not a region (`whatsapp:…`, `+62…`, `08…`)."""
    word = word.strip()
    return word.startswith(("whatsapp:", "+")) or (word[:2] in ("08", "62") and word.replace("-", "").isdigit()
                                                    and len(word) >= 9)


@dataclass(frozen=True, slots=True)
class NumberAdded:
    number: str | None
    region: regions.Region | None
    roster: Roster | None = None
    member: Member | None = None
    route: Route | None = None
    joined: bool = False
    """The number joined the roster now (else it was in it already)."""
    forwarded: tuple[str, ...] = ()
    candidates: tuple[regions.Region, ...] = ()
    bad_scope: bool = False

    @property
    def waiting(self) -> bool:
        return self.member is not None and self.member.status == "waiting_admin"


async def add_number(tx: Tx, policy: Policy, query: str, number_text: str, *, scope: str = "",
                     title: str | None = None, by: str, at: str, by_name: str | None = None,
                     confirmed: bool = True) -> NumberAdded:
    """`confirmed`: an admin's or the shell's change, effective at once (the officer is
    invited); else the number waits for an admin."""
    number = normalize_number(number_text)
    if scope and scope not in route_admin.SCOPES:
        return NumberAdded(number, None, bad_scope=True)
    found = find_region(query)
    if number is None or found is None or isinstance(found, list):
        return NumberAdded(number, None, candidates=tuple(found or ()) if isinstance(found, list) else ())
    member = await roster_store.member_by_number(tx, number)
    roster = await roster_store.get(tx, member.chat_id) if member and member.status in CURRENT else None
    roster = roster or await roster_store.serving(tx, found.code, scope)
    if roster is None:
        roster = await roster_store.create(tx, title, by, at)
    elif title and title != roster.title:
        await roster_store.set_title(tx, roster.chat_id, title)
    before = next((r for r in await routes.of_chat(tx, roster.chat_id)
                   if r.region_code == found.code and r.agency_scope == scope), None)
    route, _new = await routes.add(tx, found.code, roster.chat_id, scope=scope, title=title or roster.title, by=by,
                                   at=at, confirmed=confirmed)
    if before is None or (before.pending and not route.pending):
        action = "requested" if route.pending else "confirmed" if before is not None else "added"
        await routes.record_change(tx, action, by, by_name, at, route.id, route.region_code, route.agency_scope,
                                   route.chat_id, number)
    joined = member is None or member.status not in CURRENT or member.chat_id != roster.chat_id
    if joined:
        member = await roster_store.join(tx, roster.chat_id, number, "invited" if confirmed else "waiting_admin",
                                         found.code, scope, route.id, by, by_name, at)
        await _record(tx, member, "added" if confirmed else "requested", by, by_name, at)
        await _announce(tx, policy, member, "added" if confirmed else "requested", by, by_name, at)
        if confirmed:
            await invite(tx, policy, member, at)
    else:
        assert member is not None
        if member.status == "waiting_admin" and confirmed:  # an admin adds what a moderator asked for
            member = await confirm(tx, policy, member.id, by=by, by_name=by_name, at=at) or member
        elif member.status == "invited":
            await invite(tx, policy, member, at)  # asked again: the invitation comes again
    forwarded: list[str] = []
    if not route.pending and await roster_store.has_active(tx, roster.chat_id):  # a new region for a working roster
        forwarded = await forwarding.route_waiting(tx, policy, found.code, at, by, by_name)
    return NumberAdded(number, found, await roster_store.get(tx, roster.chat_id), member, route, joined,
                       tuple(forwarded))


async def invite(tx: Tx, policy: Policy, member: Member, at: str) -> None:
    """The invitation, through the outbox like every message to an officer; a newer one
    replaces one still waiting (outside WhatsApp's 24-hour window it waits for the officer
    to write, unless a message template is set up)."""
    _ = gettext_for(policy.default_locale)
    roster = await roster_store.get(tx, member.chat_id)
    text = _("Hello. This is Lapor Netral, run by {operator}: citizens report civil servants who break political "
             "neutrality during elections. The service's administrators have registered this number as an officer "
             "who receives the reports for {region} ({title}).\n\n"
             "If you agree, you will get each new case of that region here: what was reported, its evidence "
             "(cleaned of hidden data such as locations) and a line when a colleague acts on it. You act with "
             "numbered replies. A reporter who asked for confidentiality is never named to you. You can stop at "
             "any time by sending STOP.\n\n"
             "Do you agree to receive these reports?").format(
        operator=policy.operator_name, region=route_admin.area_text(member.region_code, member.agency_scope),
        title=(roster.title if roster and roster.title else "-"))
    reply: Reply = ChoicesReply(text, (Option(YES, _("Yes, I agree")), Option(NO, _("No"))), INVITATION_TOKEN)
    await outbox.enqueue_coalesced(tx, CHANNEL, member.number, INVITATION_KEY,
                                   {"replies": [to_dict(reply)], "locale": policy.default_locale,
                                    "invitation": member.id}, at, at)


async def confirm(tx: Tx, policy: Policy, member_id: int, *, by: str, by_name: str | None, at: str) -> Member | None:
    """An admin's yes to a number a moderator added: the route it asked for takes effect
    and the officer is invited. None when no such number waits."""
    member = await roster_store.confirm(tx, member_id, by, at)
    if member is None:
        return None
    route = await routes.confirm(tx, member.route_id, by, at) if member.route_id else None
    if route is not None:
        await routes.record_change(tx, "confirmed", by, by_name, at, route.id, route.region_code, route.agency_scope,
                                   route.chat_id, member.number)
    await _record(tx, member, "confirmed", by, by_name, at)
    await _announce(tx, policy, member, "confirmed", by, by_name, at)
    await invite(tx, policy, member, at)
    return member


async def refuse(tx: Tx, policy: Policy, member_id: int, *, by: str, by_name: str | None, at: str) -> Member | None:
    """An admin's no: the number leaves, and the route its request made goes too when
    nobody else asked for it."""
    member = await roster_store.move(tx, member_id, "removed", at, from_statuses=("waiting_admin",))
    if member is None:
        return None
    others = [m for m in await roster_store.members(tx, member.chat_id, CURRENT) if m.route_id == member.route_id]
    if member.route_id and not others:
        route = await routes.refuse(tx, member.route_id)
        if route is not None:
            await routes.record_change(tx, "refused", by, by_name, at, route.id, route.region_code,
                                       route.agency_scope, route.chat_id, member.number)
    await _record(tx, member, "refused", by, by_name, at)
    await _announce(tx, policy, member, "refused", by, by_name, at)
    return member


async def accept(tx: Tx, policy: Policy, member: Member, at: str) -> tuple[Member, list[str]] | None:
    """The officer's yes: they get the roster's cases from now on, and the cases that were
    waiting for a route in its regions are forwarded. None when they were not invited."""
    moved = await roster_store.move(tx, member.id, "active", at, from_statuses=("invited",))
    if moved is None:
        return None
    await _record(tx, moved, "accepted", moved.ref, None, at)
    await _announce(tx, policy, moved, "accepted", moved.ref, None, at)
    forwarded: list[str] = []
    for route in await routes.of_chat(tx, moved.chat_id):
        if not route.pending and route.status == "active":
            forwarded += await forwarding.route_waiting(tx, policy, route.region_code, at, moved.ref,
                                                        officer_name(policy.default_locale, moved))
    return moved, forwarded


async def decline(tx: Tx, policy: Policy, member: Member, at: str) -> Member | None:
    moved = await roster_store.move(tx, member.id, "declined", at, from_statuses=("invited",))
    if moved is not None:
        await _record(tx, moved, "declined", moved.ref, None, at)
        await _announce(tx, policy, moved, "declined", moved.ref, None, at)
    return moved


async def stop(tx: Tx, policy: Policy, number: str, at: str, *, unreachable: bool = False) -> Member | None:
    """STOP from the officer, or Twilio's word that the number opted out (21610), or
    (`unreachable`) that it is no WhatsApp number at all: the membership ends. The
    moderators hear of a roster left with nobody who gets its cases, and the cases that
    reached nobody there go down the fallback chain."""
    member = await roster_store.member_by_number(tx, number)
    if member is None or member.status not in CURRENT:
        return None
    moved = await roster_store.move(tx, member.id, "stopped", at, from_statuses=CURRENT)
    if moved is None:
        return None
    await _record(tx, moved, "stopped", moved.ref, None, at)
    await _announce(tx, policy, moved, "unreachable" if unreachable else "stopped", moved.ref, None, at)
    if member.status == "active":
        await _alert_if_empty(tx, policy, moved.chat_id, at)
    return moved


async def remove(tx: Tx, policy: Policy, number_text: str, query: str | None, at: str, *, by: str = "shell",
                 by_name: str | None = None) -> tuple[Member | None, list[Route]]:
    """Without a region: the number leaves its roster (and a roster nobody is in any more
    loses its routes, its cases going down the fallback chain). With one: the number's
    roster no longer serves that region. (None, []) when the number is in no roster."""
    number = normalize_number(number_text)
    member = await roster_store.member_by_number(tx, number) if number else None
    if member is None or member.status not in CURRENT:
        return None, []
    if query:
        narrowed, _known = await route_admin.remove(tx, policy, member.chat_id, query, at, by=by, by_name=by_name)
        return member, narrowed
    moved = await roster_store.move(tx, member.id, "removed", at, from_statuses=CURRENT)
    if moved is None:
        return None, []
    await _record(tx, moved, "removed", by, by_name, at)
    await _announce(tx, policy, moved, "removed", by, by_name, at)
    if member.status == "active":
        _ = gettext_for(policy.default_locale)
        await outbox.enqueue(tx, CHANNEL, member.number, "send", {"replies": [to_dict(TextReply(_(
            "This number no longer receives reports from Lapor Netral. Thank you for your work.")))],
            "locale": policy.default_locale}, at)
    removed: list[Route] = []
    if not await roster_store.members(tx, member.chat_id, CURRENT):
        removed, _known = await route_admin.remove(tx, policy, member.chat_id, None, at, by=by, by_name=by_name)
    elif member.status == "active":
        await _alert_if_empty(tx, policy, member.chat_id, at)
    return moved, removed


async def _alert_if_empty(tx: Tx, policy: Policy, chat_id: int, at: str) -> None:
    """The roster's last officer who said yes has left: the moderators are told, and the
    cases it holds that reached none of its officers go down the fallback chain (a roster
    with nobody in it is no route, for the cases already queued to it too)."""
    if await roster_store.has_active(tx, chat_id):
        return
    found = await routes.of_chat(tx, chat_id)
    if not found:
        return
    _ = notify.staff_gettext(policy)
    await notify.moderators(tx, policy, at, _(
        "{roster} has no officer left who receives its cases: its routes ({regions}) count as none, so new cases "
        "go down the fallback chain. Add an officer with /daftar_fokus or python -m bot routes add.").format(
        roster=await notify.chat_label(tx, policy, chat_id),
        regions=", ".join(sorted({notify.region_name(r.region_code) for r in found}))))
    await forwarding.unreached(tx, policy, chat_id, at)


async def _record(tx: Tx, member: Member, action: str, by: str, by_name: str | None, at: str) -> None:
    await routes.record_change(tx, action, by, by_name, at, member.route_id, member.region_code, member.agency_scope,
                               member.chat_id, member.number)


async def _announce(tx: Tx, policy: Policy, member: Member, action: str, by: str, by_name: str | None,
                    at: str) -> None:
    """Each admin hears privately of a change to a roster, with who made it; a number
    waiting for them comes with the buttons to decide."""
    if not policy.admin_ids:
        (log.warning if action == "requested" else log.info)(
            "no admin configured: a roster change (%s) was announced to nobody", action)
        return
    _ = gettext_for(policy.default_locale)
    roster = await roster_store.get(tx, member.chat_id)
    values = {"who": _actor(_, policy, by, by_name), "number": member.number,
              "title": roster.title if roster and roster.title else officer_name(policy.default_locale, member),
              "region": route_admin.area_text(member.region_code, member.agency_scope)}
    text = {
        "requested": _("Officer waiting for you: {who} asks that WhatsApp number {number} ({title}) receive the "
                       "reports of {region}. Nothing is sent to it until an admin confirms; then the officer is "
                       "asked for their consent."),
        "added": _("Officer added by {who}: WhatsApp number {number} ({title}) is invited to receive the reports "
                   "of {region}. It gets them once the officer says yes."),
        "confirmed": _("Officer confirmed by {who}: WhatsApp number {number} ({title}) is invited to receive the "
                       "reports of {region}."),
        "refused": _("Officer refused by {who}: WhatsApp number {number} will not receive the reports of {region}."),
        "accepted": _("WhatsApp number {number} ({title}) said yes: it receives the reports of {region} from now on."),
        "declined": _("WhatsApp number {number} ({title}) declined to receive the reports of {region}."),
        "stopped": _("WhatsApp number {number} ({title}) sent STOP: it receives nothing from now on."),
        "unreachable": _("WhatsApp number {number} ({title}) cannot be reached: Twilio says it is not a valid "
                         "WhatsApp number. It receives nothing from now on; add it again once it is corrected."),
        "removed": _("Officer removed by {who}: WhatsApp number {number} ({title}) no longer receives reports."),
    }[action].format(**values)
    reply: Reply = TextReply(text)
    if action == "requested":
        reply = ChoicesReply(text, (Option(f"{CONFIRM}:{member.id}", _("Confirm")),
                                    Option(f"{REFUSE}:{member.id}", _("Refuse"))), notify.STATUS_TOKEN)
    for admin in sorted(policy.admin_ids):
        await outbox.enqueue(tx, notify.GROUP_CHANNEL, str(admin), "send",
                             {"replies": [to_dict(reply)], "locale": policy.default_locale}, at)


def _actor(_: Callable[[str], str], policy: Policy, by: str, by_name: str | None) -> str:
    if by.startswith("officer:"):
        return _("the officer")
    return route_admin.actor_text(_, policy, by, by_name)


def describe_added(added: NumberAdded, locale: str) -> str:
    """What the person who added a number reads (a chat or the shell)."""
    _ = gettext_for(locale)
    if added.number is None:
        return _("That is not a WhatsApp number: give it with the country code, for example "
                 "whatsapp:+6281300000001 or +6281300000001.")
    if added.bad_scope:
        return _("Unknown agency group. Use one of: {groups}.").format(groups=", ".join(route_admin.SCOPES))
    if added.region is None:
        if added.candidates:
            options = "\n".join(f"• {r.name} ({r.code})" for r in added.candidates)
            return _("Which region do you mean? Send the command again with its code:\n{options}").format(
                options=options)
        return _("I don't know that region. Use a Kemendagri code such as 51.71 or a name such as "
                 "\"Kota Denpasar\".")
    assert added.member is not None
    values = {"number": added.number, "region": added.region.name, "code": added.region.code,
              "name": officer_name(locale, added.member)}
    if added.waiting:
        text = _("WhatsApp number {number} for {region} ({code}) waits for an admin to confirm it; the admins have "
                 "been asked. Nothing is sent to it until then.").format(**values)
    elif added.member.status == "active":
        text = _("WhatsApp number {number} ({name}) already receives reports; it now also receives those of "
                 "{region} ({code}).").format(**values)
    else:
        text = _("WhatsApp number {number} ({name}) is invited to receive the reports of {region} ({code}). It gets "
                 "nothing until the officer replies \"ya\" to the invitation. Outside WhatsApp's 24-hour window the "
                 "invitation waits until the officer sends any message to the service's number, unless "
                 "TWILIO_STATUS_TEMPLATE_SID is set.").format(**values)
    if added.forwarded:
        text += "\n" + _("Cases that were waiting are queued for this roster: {numbers}").format(
            numbers=", ".join(added.forwarded))
    return text
