"""The review of a report before it is sent, in the reporter's language."""

from __future__ import annotations

from datetime import date

from flows import menus, regions
from flows.conversation import Draft
from flows.i18n import long_date
from flows.turn import Turn


def region_label(province_code: str | None, region_code: str | None) -> str:
    region = regions.get(region_code)
    province = regions.get(province_code)
    if region and province and region.code != province.code:
        return f"{region.name}, {province.name}"
    known = province or region
    return known.name if known else "-"


def agency_label(turn: Turn, draft: Draft) -> str:
    _ = turn._
    parts: list[str] = []
    group = menus.agency_group(draft.agency_group)
    if group:
        parts.append(_(group.label))
        unit = menus.find(group.units, draft.agency_unit)
        if unit:
            parts.append(_(unit.label))
    if draft.agency_name:
        parts.append(draft.agency_name)
    return " · ".join(parts) or "-"


def person_label(turn: Turn, draft: Draft) -> str:
    _ = turn._
    name = draft.person_name or _("name unknown")
    if draft.person_position:
        name = f"{name} ({draft.person_position})"
    status = menus.find(menus.PERSON_STATUSES, draft.person_status)
    return f"{name} · {_(status.label)}" if status else name


def date_label(turn: Turn, iso: str | None) -> str:
    return long_date(date.fromisoformat(iso), turn.conv.locale) if iso else "-"


def render(turn: Turn) -> str:
    _ = turn._
    draft = turn.conv.draft
    incident = menus.find(menus.INCIDENT_TYPES, draft.incident_type)
    identity = menus.find(menus.IDENTITY_MODES, draft.identity_mode)
    place = draft.place or "-"
    if draft.latitude is not None and draft.longitude is not None:
        place = f"{place} ({draft.latitude:.5f}, {draft.longitude:.5f})"
    count = len(draft.evidence)
    evidence = (turn.ngettext("{n} file", "{n} files", count).format(n=count)
                if count else _("none"))
    identity_text = _(identity.label) if identity else "-"
    if draft.identity_mode in ("rahasia", "terbuka"):
        identity_text = f"{identity_text}: {draft.reporter_name}, {draft.reporter_phone}"
    lines = [
        (_("Region"), region_label(draft.province_code, draft.region_code)),
        (_("Agency"), agency_label(turn, draft)),
        (_("Person reported"), person_label(turn, draft)),
        (_("Incident type"), _(incident.label) if incident else "-"),
        (_("Happened on"), date_label(turn, draft.occurred_on)),
        (_("You found out on"), date_label(turn, draft.learned_on)),
        (_("Place"), place),
        (_("What happened"), draft.description or "-"),
        (_("Witnesses"), draft.witnesses or "-"),
        (_("Evidence"), evidence),
        (_("Identity"), identity_text),
    ]
    return "\n".join(f"{label}: {value}" for label, value in lines)
