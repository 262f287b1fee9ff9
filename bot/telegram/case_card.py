"""The case as officers see it in their group: one HTML message (every value from a user
escaped) with the current status, who acted last, and the buttons its status allows."""

from __future__ import annotations

import re
from html import escape, unescape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.telegram.text_limits import MAX_TEXT, cut, units
from flows.case import card, case_file, lifecycle
from flows.case.card import CardData
from flows.i18n import gettext_for
from flows.inert import inert
from storage.cases import Case

__all__ = ["BUTTONS", "CardData", "callback", "parse_callback", "render"]

MAX_CARD = MAX_TEXT
BUTTONS = card.ACTIONS[:-1]
"""The status actions, two to a row; the case file's button has a row of its own."""
CASE_FILE = case_file.ACTION
"""The "Berkas PDF" button: the case file for this group, whatever the status."""


def callback(case_id: int, action: str) -> str:
    return f"c:{case_id}:{action}"


def parse_callback(data: str | None) -> tuple[int, str] | None:
    parts = (data or "").split(":")
    if len(parts) == 3 and parts[0] == "c" and parts[1].isdecimal() and len(parts[1]) <= 18:
        return int(parts[1]), parts[2]
    return None


def render(data: CardData, locale: str, chat_id: int = 0) -> tuple[str, InlineKeyboardMarkup | None]:
    """The card as the group reads it (`Audience.group`): an open reporter's name and phone,
    never a confidential one's. A group the case has left sees only that it moved. Every
    value a reporter typed is escaped and made inert (`flows.inert`); a card too long for one
    message is cut, in Telegram's units, and says where the rest is."""
    _ = gettext_for(locale)
    case = data.case
    if not data.active_here:
        return f"<b>{escape(card.title(case, locale))}</b>\n" + escape(card.moved_text(locale)), None
    status_line = f"<b>{escape(card.status_text(data, locale))}</b>"
    last = card.last_action(data, locale)
    if last is not None:
        status_line += " · " + escape(last)
    top = [f"<b>{escape(card.title(case, locale))}</b>", f"{escape(_('Status'))}: {status_line}", ""]
    fields = card.fields(data, locale, chat_id)
    description = inert(case.description)
    text = _compose(top, fields, description, case, locale)
    if shown_units(text) <= MAX_CARD:
        return text, _keyboard(data, locale)
    more = "\n\n" + escape(_("The text continues: /lihat {number} or the Case file (PDF) button.").format(
        number=case.number))
    room = MAX_CARD - shown_units(more)
    while shown_units(_compose(top, fields, "", case, locale)) > room - MIN_DESCRIPTION:
        fields = _shorter(fields)
    head = _compose(top, fields, "", case, locale)
    return head + escape(cut(description, room - shown_units(head))) + more, _keyboard(data, locale)


MIN_DESCRIPTION = 600
"""Units of the description a cut card keeps, however long the other fields are."""


def _compose(top: list[str], fields: list[tuple[str, str]], description: str, case: Case, locale: str) -> str:
    _ = gettext_for(locale)
    lines = list(top)
    for label, value in fields:
        shown = escape(value)
        if label == _("Place") and case.latitude is not None and case.longitude is not None:
            url = f"https://maps.google.com/?q={case.latitude:.6f},{case.longitude:.6f}"
            shown = f'<a href="{escape(url)}">{shown}</a>'
        lines.append(f"<b>{escape(label)}:</b> {shown}")
    lines += ["", f"<b>{escape(_('What happened'))}:</b>"]
    return "\n".join(lines) + "\n" + escape(description)


def _shorter(fields: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The longest value (the reporter's free text: witnesses, place) cut to half its length."""
    longest = max(range(len(fields)), key=lambda n: units(fields[n][1]))
    label, value = fields[longest]
    return [*fields[:longest], (label, cut(value, max(1, units(value) // 2))), *fields[longest + 1:]]


def shown_units(html: str) -> int:
    """What Telegram counts of an HTML message: its text without the tags, entities decoded."""
    return units(unescape(_TAG.sub("", html)))


_TAG = re.compile(r"<[^>]*>")


def _keyboard(data: CardData, locale: str) -> InlineKeyboardMarkup | None:
    if not data.active_here:
        return None
    _ = gettext_for(locale)
    possible = lifecycle.allowed(data.case.status)
    buttons = [InlineKeyboardButton(_(label), callback_data=callback(data.case.id, action))
               for action, label in BUTTONS if action in possible]
    rows = [buttons[i:i + 2] for i in range(0, len(buttons), 2)]
    rows.append([InlineKeyboardButton(_("Case file (PDF)"), callback_data=callback(data.case.id, CASE_FILE))])
    return InlineKeyboardMarkup(rows)
