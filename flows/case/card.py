"""The case card: what a focal point reads of a case it holds, as data a channel lays out
(one HTML message with buttons in a Telegram group; plain text with a numbered menu for
each officer of a WhatsApp roster). The same title, status line and fields everywhere,
shaped by the same audience rule (`flows/staff/audience.py`): an open reporter's name and
phone, never a confidential or anonymous one's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flows.case import case_file, lifecycle, related
from flows.case.case_text import case_fields, status_label
from flows.i18n import N_, gettext_for, long_date
from flows.inert import inert
from flows.staff.audience import Audience
from flows.staff.visibility import Viewer
from storage import Tx, case_posts, cases
from storage.case_posts import CasePost
from storage.cases import Case, CaseEvent, Evidence

MESSAGE_ON_CARD = 300
"""Characters of a forwarded message on the card (all of it in `/lihat` and the case file)."""
ACTIONS: tuple[tuple[str, str], ...] = (
    ("accept", N_("Accept")), ("follow_up", N_("Follow up")), ("finish", N_("Done")),
    ("not_ours", N_("Not our authority")), ("reject", N_("Reject")), ("ask", N_("Ask for info")),
    (case_file.ACTION, N_("Case file (PDF)")),
)
"""What officers can do with a case, in this order everywhere: the card's buttons on
Telegram, the numbered menu on WhatsApp (1 is always Terima, 7 always Berkas PDF)."""


def actions_now(status: str) -> list[tuple[str, str]]:
    """The actions a case's status allows now; the case file, whatever the status."""
    possible = lifecycle.allowed(status)
    return [(action, label) for action, label in ACTIONS if action in possible or action == case_file.ACTION]


@dataclass(frozen=True, slots=True)
class CardData:
    case: Case
    evidence_count: int
    last: CaseEvent | None
    active_here: bool
    related: tuple[str, ...] = ()
    """Numbers of the linked cases this focal point may see."""
    items: tuple[Evidence, ...] = ()
    """The evidence: links and forwarded messages are listed on the card."""


async def load(tx: Tx, case_id: int, post_id: int) -> tuple[CardData, CasePost] | None:
    """The card of a case as the focal point of `post_id` reads it now; None when the case
    or the post is gone."""
    case = await cases.get(tx, case_id)
    post = await case_posts.get(tx, post_id)
    if case is None or post is None:
        return None
    evidence = await cases.evidence_of(tx, case.id)
    last = await cases.last_actor(tx, case.id)
    linked = await related.visible(tx, case.id, Viewer.group(post.chat_id))
    return CardData(case, len(evidence), last, post.active, tuple(r.number for r in linked), tuple(evidence)), post


def title(case: Case, locale: str) -> str:
    _ = gettext_for(locale)
    return _("Report {number}").format(number=case.number)


def moved_text(locale: str) -> str:
    """What a focal point the case has left reads instead of the card: no detail."""
    _ = gettext_for(locale)
    return _("This case was handed to another office. Its details are no longer shown here.")


def last_action(data: CardData, locale: str) -> str | None:
    """"last action by Petugas 2, Kamis, 21 November 2024 10:07", or None."""
    if data.last is None or not data.last.actor_name:
        return None
    _ = gettext_for(locale)
    at = datetime.fromisoformat(data.last.at)
    return _("last action by {name}, {when}").format(
        name=inert(data.last.actor_name), when=f"{long_date(at.date(), locale)} {at:%H:%M}")


def status_text(data: CardData, locale: str) -> str:
    return status_label(gettext_for(locale), data.case.status)


def fields(data: CardData, locale: str, chat_id: int) -> list[tuple[str, str]]:
    """The card's label/value pairs for the focal point `chat_id` (a group's reader)."""
    return case_fields(data.case, locale, data.evidence_count, Audience.group(chat_id).sees_identity(data.case),
                       data.related, data.items, message_limit=MESSAGE_ON_CARD)
