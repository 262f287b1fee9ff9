"""The review of a report before it is sent, in the reporter's language."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from flows import menus, regions
from flows.case.evidence import counts_text
from flows.case.evidence import lines as evidence_lines
from flows.i18n import long_date
from flows.reporter.turn import Turn


def region_label(province_code: str | None, region_code: str | None) -> str:
    region = regions.get(region_code)
    province = regions.get(province_code)
    if region and province and region.code != province.code:
        return f"{region.name}, {province.name}"
    known = province or region
    return known.name if known else "-"


def agency_label(_: Callable[[str], str], group_id: str | None, unit_id: str | None,
                 name: str | None) -> str:
    parts: list[str] = []
    group = menus.agency_group(group_id)
    if group:
        parts.append(_(group.label))
        unit = menus.find(group.units + group.positions, unit_id)  # positions: cases stored before 2024-11
        if unit:
            parts.append(_(unit.label))
    if name:
        parts.append(name)
    return " · ".join(parts) or "-"


def status_label(_: Callable[[str], str], status_id: str | None) -> str:
    """The employment status as it reads on its own: "PNS", "Bukan ASN", "tidak diketahui"."""
    status = menus.person_status(status_id)
    if status is None:
        return status_id or "-"
    return _(status.summary or status.label)


def person_label(_: Callable[[str], str], name: str | None, position: str | None,
                 status_id: str | None) -> str:
    """Name, position and employment status in one value (the case card and /lihat)."""
    label = person_only(_, name, position)
    if status_id:
        label = f"{label} · " + _("employment status: {status}").format(status=status_label(_, status_id))
    return label


def person_only(_: Callable[[str], str], name: str | None, position: str | None) -> str:
    label = name or _("name unknown")
    return f"{label} ({position})" if position else label


def date_label(turn: Turn, iso: str | None) -> str:
    return long_date(date.fromisoformat(iso), turn.conv.locale) if iso else "-"


def render(turn: Turn) -> str:
    _ = turn._
    draft = turn.conv.draft
    incident = menus.incident(draft.incident_type, draft.agency_group)
    identity = menus.find(menus.IDENTITY_MODES, draft.identity_mode)
    place = draft.place or "-"
    if draft.latitude is not None and draft.longitude is not None:
        place = f"{place} ({draft.latitude:.5f}, {draft.longitude:.5f})"
    evidence = counts_text(_, turn.ngettext, draft.evidence)
    listed = evidence_lines(_, draft.evidence, turn.conv.locale, show_held=False, limit=200)
    if listed:
        evidence += "".join(f"\n  • {line}" for line in listed)
    identity_text = _(identity.label) if identity else "-"
    if draft.identity_mode in ("rahasia", "terbuka"):
        identity_text = f"{identity_text} ({draft.reporter_name}, {draft.reporter_phone})"
    lines = [
        (_("Region"), region_label(draft.province_code, draft.region_code)),
        (_("Agency"), agency_label(_, draft.agency_group, draft.agency_unit, draft.agency_name)),
        (_("Person reported"), person_only(_, draft.person_name, draft.person_position)),
        (_("Employment status"), status_label(_, draft.person_status)),
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
