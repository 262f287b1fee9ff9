"""A submitted case as label/value pairs, for officers and moderators: the group card
(HTML) and `/lihat` (plain text) show the same fields in the same order, each value inert
(`flows.inert`: a command or mention a reporter typed does not act in a group)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

from flows import menus
from flows.case.evidence import counts_text
from flows.case.evidence import lines as evidence_lines
from flows.i18n import gettext_for, long_date, ngettext_for
from flows.inert import inert
from flows.reporter.summary import agency_label, person_label, region_label
from storage.cases import Case, Evidence


def identity_text(_: Callable[[str], str], case: Case, show: bool) -> str:
    """The reporter as the privacy choice and the viewer's role allow."""
    if case.identity_erased_at:
        return _("Removed at the reporter's request or after the retention period")
    if case.identity_mode == "anonim":
        return _("Anonymous")
    if not show:
        return _("Confidential (known to the moderators only)")
    label = _("Open ({name}, {phone})") if case.identity_mode == "terbuka" else _("Confidential ({name}, {phone})")
    return label.format(name=case.reporter_name or "-", phone=case.reporter_phone or "-")


def status_label(_: Callable[[str], str], status_id: str) -> str:
    status = menus.find(menus.CASE_STATUSES, status_id)
    return _(status.label) if status else status_id


def case_fields(case: Case, locale: str, evidence_count: int, show_identity: bool,
                related: Sequence[str] = (), items: Sequence[Evidence] = (), show_held: bool = False,
                message_limit: int | None = None) -> list[tuple[str, str]]:
    """`related`: the linked cases this reader may see, as they should be shown; `items`:
    the evidence, so links and forwarded messages are listed as text (a link not yet cleaned
    only where `show_held`); `message_limit`: characters of a forwarded message shown."""
    _ = gettext_for(locale)
    incident = menus.incident(case.incident_type, case.agency_group)

    def day(iso: str) -> str:
        return long_date(date.fromisoformat(iso), locale)

    place = case.place
    if case.latitude is not None and case.longitude is not None:
        place = f"{place} ({case.latitude:.5f}, {case.longitude:.5f})"
    fields = [
        (_("Region"), region_label(case.province_code, case.region_code)),
        (_("Agency"), agency_label(_, case.agency_group, case.agency_unit, case.agency_name)),
        (_("Person reported"), person_label(_, case.person_name, case.person_position, case.person_status)),
        (_("Incident type"), _(incident.label) if incident else case.incident_type),
        (_("Happened on"), _("{occurred} (reporter found out on {learned})").format(
            occurred=day(case.occurred_on), learned=day(case.learned_on))),
        (_("Place"), place),
        (_("Witnesses"), case.witnesses or "-"),
        (_("Evidence"), counts_text(_, ngettext_for(locale), items) if items
         else _("{count} file(s)").format(count=evidence_count)),
    ]
    listed = evidence_lines(_, items, locale, show_held, message_limit)
    if listed:
        fields.append((_("Links and forwarded messages"), "\n".join(listed)))
    fields.append((_("Reporter"), identity_text(_, case, show_identity)))
    if related:
        fields.append((_("Related reports"), ", ".join(related)))
    return [(label, inert(value)) for label, value in fields]
