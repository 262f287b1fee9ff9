"""A WhatsApp roster as a focal point: what of a case reaches its officers. WhatsApp cannot
post into a group, so each officer who said yes gets the roster's messages privately, and
every officer sees what the others did ("one roster, one picture"): where a Telegram
group's card is edited, the roster's other officers get one line.

Everything here is queued in the outbox for the WhatsApp sender (`bot/whatsapp/sender.py`,
which renders it) and is re-checked when it goes out: an officer who has left, or a roster
that no longer holds the case, gets nothing.
"""

from __future__ import annotations

from flows.case.case_text import status_label
from flows.i18n import gettext_for
from flows.replies import TextReply, to_dict
from storage import Tx, case_posts, outbox
from storage import rosters as roster_store
from storage.cases import Case
from storage.rosters import Member, is_roster

__all__ = ["CHANNEL", "is_roster", "officer_name", "post_case", "tell"]

CHANNEL = "whatsapp"
"""Officers of a roster are written to on WhatsApp, through its sender."""
ROSTER = "roster"
"""The payload key naming the roster a message is for (checked again when it goes out)."""


def officer_name(locale: str, member: Member) -> str:
    """How colleagues, the card and the audit trail name an officer: never by their number."""
    _ = gettext_for(locale)
    return _("Officer {position}").format(position=member.position)


async def post_case(tx: Tx, chat_id: int, case_id: int, post_id: int, at: str) -> int:
    """The case's card to every officer of the roster who said yes; how many."""
    members = await roster_store.active(tx, chat_id)
    for member in members:
        await outbox.enqueue(tx, CHANNEL, member.number, "post_case", {"case_id": case_id, ROSTER: chat_id}, at,
                             case_id=case_id, post_id=post_id)
    return len(members)


async def tell(tx: Tx, chat_id: int, text: str, at: str, *, case_id: int | None = None,
               holder_only: bool = False, evidence: list[dict[str, object]] | None = None,
               only: str | None = None, skip: str | None = None) -> None:
    """A message to the roster's officers who said yes (`only`: to that officer alone,
    `skip`: not to that one; both officer refs). `holder_only`: case content, sent only if
    the roster still holds the case when it goes out."""
    for member in await roster_store.active(tx, chat_id):
        if (only is not None and member.ref != only) or member.ref == skip:
            continue
        payload: dict[str, object] = {"replies": [to_dict(TextReply(text))], ROSTER: chat_id}
        if evidence:
            payload["evidence"] = evidence
        if holder_only:
            payload["holder_only"] = True
        await outbox.enqueue(tx, CHANNEL, member.number, "send", payload, at, case_id=case_id)


async def status_changed(tx: Tx, locale: str, case: Case, status: str, actor_ref: str, actor_name: str | None,
                         at: str, note: str | None = None, posts: list[int] | None = None,
                         generic: bool = False) -> None:
    """One line to the officers of every roster that holds the case (`posts`: these focal
    points instead), except the one who acted: they got their own answer. `generic`: the
    new status as a label (a moderator's change, or another focal point's "not ours")."""
    _ = gettext_for(locale)
    name = actor_name or _("a colleague")
    lines = {
        "diterima": _("{number} accepted by {name}."),
        "ditindaklanjuti": _("{number} is being followed up by {name}."),
        "selesai": _("{number} finished by {name}."),
        "ditolak": _("{number} rejected by {name}. Reason: {reason}"),
        "bukan_kewenangan": _("{number}: {name} said it is not our authority. The case goes to another office and "
                              "is no longer shown here."),
    }
    fallback = _("{number} is now {status} ({name}).")
    text = (fallback if generic else lines.get(status, fallback)).format(
        number=case.number, name=name, reason=note or "-", status=status_label(_, status))
    holders = posts if posts is not None else [p.chat_id for p in await case_posts.of_case(tx, case.id)]
    for chat_id in holders:
        if is_roster(chat_id):
            await tell(tx, chat_id, text, at, case_id=case.id, skip=actor_ref)


async def case_left(tx: Tx, locale: str, chat_id: int, case: Case, at: str) -> None:
    """The roster no longer holds the case (moved to another office, its route removed):
    its officers are told so, without any detail."""
    if not is_roster(chat_id):
        return
    _ = gettext_for(locale)
    await tell(tx, chat_id, _("{number} was handed to another office. Its details are no longer shown here.").format(
        number=case.number), at, case_id=case.id)


async def relay_answer(tx: Tx, locale: str, chat_id: int, case: Case, asked_by: str, text: str,
                       evidence: list[dict[str, object]], at: str) -> None:
    """The reporter's answer to an officer's question goes to the officer who asked (to
    every officer, if they have left); the others are told that it came."""
    asker = next((m for m in await roster_store.active(tx, chat_id) if m.ref == asked_by), None)
    if asker is None:
        await tell(tx, chat_id, text, at, case_id=case.id, evidence=evidence, holder_only=True)
        return
    _ = gettext_for(locale)
    await tell(tx, chat_id, text, at, case_id=case.id, evidence=evidence, holder_only=True, only=asker.ref)
    await tell(tx, chat_id, _("{number}: the reporter answered {name}'s question; the answer went to {name}.").format(
        number=case.number, name=officer_name(locale, asker)), at, case_id=case.id, holder_only=True, skip=asker.ref)
