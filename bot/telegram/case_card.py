"""The case as officers see it in their group: one HTML message (every value from a user
escaped) with the current status, who acted last, and the buttons its status allows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from flows import lifecycle, menus
from flows.i18n import N_, gettext_for, long_date
from flows.summary import agency_label, person_label, region_label
from storage.cases import Case, CaseEvent

MAX_CARD = 4096
BUTTONS = (
    ("accept", N_("Accept")), ("follow_up", N_("Follow up")), ("finish", N_("Done")),
    ("not_ours", N_("Not our authority")), ("reject", N_("Reject")), ("ask", N_("Ask for info")),
)


def callback(case_id: int, action: str) -> str:
    return f"c:{case_id}:{action}"


def parse_callback(data: str | None) -> tuple[int, str] | None:
    parts = (data or "").split(":")
    if len(parts) == 3 and parts[0] == "c" and parts[1].isdigit():
        return int(parts[1]), parts[2]
    return None


@dataclass(frozen=True, slots=True)
class CardData:
    case: Case
    evidence_count: int
    last: CaseEvent | None
    active_here: bool


def render(data: CardData, locale: str) -> tuple[str, InlineKeyboardMarkup | None]:
    _ = gettext_for(locale)
    case = data.case
    status = menus.find(menus.CASE_STATUSES, case.status)
    incident = menus.find(menus.INCIDENT_TYPES, case.incident_type)

    def day(iso: str) -> str:
        return long_date(date.fromisoformat(iso), locale)

    place = escape(case.place)
    if case.latitude is not None and case.longitude is not None:
        url = f"https://maps.google.com/?q={case.latitude:.6f},{case.longitude:.6f}"
        place += f' (<a href="{escape(url)}">{case.latitude:.5f}, {case.longitude:.5f}</a>)'
    if case.identity_mode == "terbuka":
        identity = _("Open: {name}, {phone}").format(name=escape(case.reporter_name or "-"),
                                                     phone=escape(case.reporter_phone or "-"))
    elif case.identity_mode == "rahasia":
        identity = _("Confidential: known to the moderators only")
    else:
        identity = _("Anonymous")
    status_line = f"<b>{escape(_(status.label) if status else case.status)}</b>"
    if data.last is not None and data.last.actor_name:
        at = datetime.fromisoformat(data.last.at)
        status_line += " · " + _("last action by {name}, {when}").format(
            name=escape(data.last.actor_name), when=escape(f"{day(at.date().isoformat())} {at:%H:%M}"))
    if not data.active_here:
        status_line += " · " + _("handed to another office")
    head = [
        _("<b>Report {number}</b>").format(number=escape(case.number)),
        _("Status: {status}").format(status=status_line),
        "",
        _("<b>Region:</b> {value}").format(value=escape(region_label(case.province_code, case.region_code))),
        _("<b>Agency:</b> {value}").format(
            value=escape(agency_label(_, case.agency_group, case.agency_unit, case.agency_name))),
        _("<b>Person reported:</b> {value}").format(
            value=escape(person_label(_, case.person_name, case.person_position, case.person_status))),
        _("<b>Incident type:</b> {value}").format(value=escape(_(incident.label) if incident else case.incident_type)),
        _("<b>Happened on:</b> {occurred} (reporter found out on {learned})").format(
            occurred=escape(day(case.occurred_on)), learned=escape(day(case.learned_on))),
        _("<b>Place:</b> {value}").format(value=place),
        _("<b>Witnesses:</b> {value}").format(value=escape(case.witnesses or "-")),
        _("<b>Evidence:</b> {count} file(s), sent below").format(count=data.evidence_count),
        _("<b>Reporter:</b> {value}").format(value=identity),
        "",
        _("<b>What happened:</b>"),
    ]
    text = "\n".join(head) + "\n"
    return text + _fit(case.description, MAX_CARD - len(text)), _keyboard(data, locale)


def _fit(raw: str, room: int) -> str:
    """The escaped text, cut (before escaping, so no entity is split) to fit `room`."""
    escaped = escape(raw)
    while len(escaped) > room:
        raw = raw[: max(0, len(raw) - (len(escaped) - room) - 1)]
        escaped = escape(raw) + "…"
    return escaped


def _keyboard(data: CardData, locale: str) -> InlineKeyboardMarkup | None:
    if not data.active_here:
        return None
    _ = gettext_for(locale)
    possible = lifecycle.allowed(data.case.status)
    buttons = [InlineKeyboardButton(_(label), callback_data=callback(data.case.id, action))
               for action, label in BUTTONS if action in possible]
    if not buttons:
        return None
    return InlineKeyboardMarkup([buttons[i:i + 2] for i in range(0, len(buttons), 2)])
