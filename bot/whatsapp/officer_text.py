"""What an officer of a WhatsApp roster reads, as plain text: the case card (the same title,
status line and fields as a Telegram group's card, `flows/case/card.py`) with its actions as
a numbered menu, a staff answer with its buttons as the commands to type, and the help.
WhatsApp shows no buttons outside a message template, so numbers and words stand for them:
the number always means the same action (1 Terima … 7 Berkas PDF)."""

from __future__ import annotations

from typing import Any

from flows.case import card
from flows.case.card import CardData
from flows.i18n import gettext_for
from flows.inert import inert
from flows.staff import answers, buttons

EXAMPLE = "LN-24-7K3Q9"


def number_of(action: str) -> int:
    return next(n for n, (known, _label) in enumerate(card.ACTIONS, start=1) if known == action)


def menu(status: str, number: str, locale: str) -> str:
    """The actions the case's status allows now, each with its fixed number."""
    _ = gettext_for(locale)
    lines = [_("Reply with a number for this case:")]
    lines += [f"{number_of(action)}. {_(label)}" for action, label in card.actions_now(status)]
    lines.append(_("Or type the word with the case number, for example: {example}").format(
        example=f"{_(card.ACTIONS[0][1]).lower()} {number}"))
    return "\n".join(lines)


def card_text(data: CardData, locale: str, chat_id: int) -> str:
    """The card as the roster reads it (the audience rule of a group: an open reporter's
    name and phone, never a confidential or anonymous one's), then the menu."""
    _ = gettext_for(locale)
    case = data.case
    if not data.active_here:
        return f"*{card.title(case, locale)}*\n{card.moved_text(locale)}"
    status = f"*{card.status_text(data, locale)}*"
    last = card.last_action(data, locale)
    if last:
        status += f" · {last}"
    lines = [f"*{card.title(case, locale)}*", f"{_('Status')}: {status}", ""]
    for label, value in card.fields(data, locale, chat_id):
        lines.append(f"{label}: {value}")
    lines += ["", f"{_('What happened')}:", inert(case.description), "", menu(case.status, case.number, locale)]
    return "\n".join(lines)


def template_variables(data: CardData, locale: str) -> dict[str, str]:
    """The case template's variables: number, region, kind. One line each (WhatsApp refuses
    a template variable with a line break) and nothing about the reporter."""
    fields = dict(card.fields(data, locale, 0))
    _ = gettext_for(locale)

    def line(text: str) -> str:
        return " ".join(text.split())[:200] or "-"

    return {"1": data.case.number, "2": line(fields.get(_("Region"), "")),
            "3": line(fields.get(_("Incident type"), ""))}


def staff_text(staff: dict[str, Any], locale: str) -> str:
    """A staff answer (`kasus`, `lihat`, `jejak` …) with its buttons as the commands to type."""
    _ = gettext_for(locale)
    text = str(staff.get("text") or "")
    typed = []
    for row in answers.buttons_of(staff):
        for button in row:
            decoded = buttons.decode(button.action)
            if decoded is not None:
                typed.append(f"• {decoded[0]} {decoded[1]}".rstrip())
    if typed:
        text += "\n\n" + _("To go on, type:") + "\n" + "\n".join(typed)
    return text


def help_text(locale: str, name: str, title: str) -> str:
    _ = gettext_for(locale)
    actions = ", ".join(f"{n} {_(label)}" for n, (_action, label) in enumerate(card.ACTIONS, start=1))
    return "\n".join([
        _("You are {name} of {title}. You can type:").format(name=name, title=title),
        _("• kasus: your office's cases (kasus halaman=2 for the next page, kasus status=diterima to filter)"),
        _("• lihat {example}: the whole case with its evidence").format(example=EXAMPLE),
        _("• berkas {example}: the case file (PDF)").format(example=EXAMPLE),
        _("• jejak {example}: the case's audit trail").format(example=EXAMPLE),
        _("• a number to act on the last case you were shown: {actions}. Add the case number for another one, "
          "for example: terima {example}").format(actions=actions, example=EXAMPLE),
        _("• STOP: receive no more reports"),
    ])
