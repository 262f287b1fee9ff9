"""The case file ("berkas"): what an officer needs to turn a case into a formal report to
Bawaslu (within 7 days of the incident becoming known), BKN or the agency's inspectorate,
in Bahasa Indonesia, shaped by who will read it.

This module decides the content (`gather`), orders a file for a chat (`order`, through
the outbox) and records that one was generated (`record`). Laying it out as a PDF is
`bot/case_file/`; the delivery worker generates the file when it sends it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel.numbers import format_decimal

from cleaning import links
from flows import menus
from flows.case import notify, related
from flows.case.case_text import identity_text, status_label
from flows.i18n import N_, gettext_for, long_date, long_datetime
from flows.reporter.summary import agency_label, region_label
from flows.staff.roles import Role
from flows.staff.visibility import GROUP, PRIVATE, SHELL, Viewer, identity_allowed, may_see
from storage import Tx, case_files, cases, cleaned_files, outbox, routes
from storage.cases import Case, CaseEvent, Evidence
from storage.cleaned_files import CleanedFile
from storage.rosters import is_roster

ACTION = "case_file"
"""The case card's "Berkas PDF" button."""
LOCALE = "id"
"""The file is a formal Indonesian document, whatever language the staff chat uses."""
BAWASLU_DAYS = 7
NOT_ASN_GROUPS = frozenset({"desa", "bumn_bumd", "tni_polri"})
ASN_STATUSES = frozenset({"pns", "pppk"})
DISCIPLINE = frozenset({"ikut_kampanye", "atribut", "mobilisasi", "fasilitas_negara", "kebijakan_memihak",
                        "ajakan_barang", "surat_dukungan"})
"""The forms of support PP 94/2021 (art. 5 letter n) lists as breaches of discipline."""
_CASE_NUMBER = re.compile(r"LN-\d{2}-[0-9A-Z]{5}")


@dataclass(frozen=True, slots=True)
class Order:
    """A case file asked for: which case, for which audience, by whom."""

    case_id: int
    audience: Viewer
    requested_by: str
    requester_name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "audience": self.audience.to_dict(), "requested_by": self.requested_by,
                "requester_name": self.requester_name}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Order:
        return cls(int(data["case_id"]), Viewer.from_dict(data["audience"]), str(data["requested_by"]),
                   data.get("requester_name"))


@dataclass(frozen=True, slots=True)
class Field:
    label: str
    value: str
    alert: bool = False
    """Shown in red: a deadline that has passed."""
    mono: bool = False
    """A hash: fixed-width, never wrapped mid-word by accident."""


@dataclass(frozen=True, slots=True)
class EvidenceEntry:
    evidence_id: int
    sha256: str | None
    image: bool
    """An image: the file shows a thumbnail of its cleaned copy."""
    mime: str | None
    heading: str
    fields: tuple[Field, ...]
    file: bool = True
    """A file with bytes; a link or a forwarded message has no thumbnail line at all."""


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    fields: tuple[Field, ...] = ()
    text: str | None = None
    lines: tuple[str, ...] = ()
    evidence: tuple[EvidenceEntry, ...] = ()
    empty: str | None = None
    blanks: tuple[str, ...] = ()
    """Labels with room to write by hand (who received the file, a signature)."""


@dataclass(frozen=True, slots=True)
class Content:
    case_id: int
    number: str
    title: str
    subtitle: str
    sections: tuple[Section, ...]
    footer: str
    page_label: str
    """With `{page}` and `{pages}`."""
    generated_at: datetime
    audience_label: str
    with_identity: bool
    preview_label: str
    no_preview: dict[str, str]
    """Why an image has no thumbnail, by reason ("unsafe", "missing", "other")."""


def rule_text(_: notify.Gettext, case: Case) -> str:
    """The rule an incident touches: the village-law track, the disciplinary rule, the
    ethics rule, or another track for people who are not ASN."""
    if case.agency_group == "desa" or case.incident_type == "desa_berpihak":
        return _("Law 6/2014 on Villages: the village-law track (village heads and staff are not ASN)")
    if case.agency_group == "tni_polri":
        return _("Not ASN: TNI/Polri neutrality rules (a separate track)")
    if case.agency_group == "bumn_bumd":
        return _("Not ASN: the company's own rules (BUMN/BUMD)")
    if case.incident_type in DISCIPLINE:
        text = _("PP 94/2021 on civil-servant discipline (art. 5 letter n) and the SKB 2022 on ASN neutrality")
    else:
        text = _("SKB 2022 on ASN neutrality (code of ethics and conduct)")
    if case.incident_type == "ajakan_barang":
        text += ". " + _("Money or goods for votes is also an election crime (Sentra Gakkumdu).")
    return text


def employment_text(_: notify.Gettext, case: Case) -> str:
    if case.agency_group in NOT_ASN_GROUPS:
        return _(menus.NOT_ASN.label)
    status = menus.find(menus.PERSON_STATUSES, case.person_status)
    label = _(status.label) if status else case.person_status
    return f"{label} (ASN)" if case.person_status in ASN_STATUSES else label


def subtitle_text(_: notify.Gettext, case: Case) -> str:
    """What kind of breach the file is about, by who the person reported is: a village head
    answers to the village law, not to the ASN rules."""
    if case.agency_group == "desa":
        return _("Lapor Netral · report of a possible breach of neutrality by a village head or village official")
    if case.agency_group == "bumn_bumd":
        return _("Lapor Netral · report of a possible breach of neutrality by a state-owned company's employee")
    if case.agency_group == "tni_polri":
        return _("Lapor Netral · report of a possible breach of neutrality by a member of the TNI/Polri")
    if case.person_status == "honorer":
        return _("Lapor Netral · report of a possible breach of neutrality by a non-ASN government employee "
                 "(honorer)")
    if case.agency_group == "lainnya" and case.person_status not in ASN_STATUSES:
        return _("Lapor Netral · report of a possible breach of political neutrality")
    return _("Lapor Netral · report of a possible breach of ASN neutrality")


def _local(at: str | datetime, zone: ZoneInfo) -> datetime:
    moment = datetime.fromisoformat(at) if isinstance(at, str) else at
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(zone)


def when_text(at: str | datetime, zone: ZoneInfo) -> str:
    """'Kamis, 21 November 2024 pukul 10.07 WIB'."""
    return long_datetime(_local(at, zone), LOCALE, zone)


def size_text(_: notify.Gettext, size: int | None) -> str:
    """"5 bytes", "12,3 KB (12.595 bytes)", "4,2 MB (4.404.019 bytes)": a unit one reads at a
    glance, with the exact count beside it where the unit rounds."""
    if size is None:
        return "-"
    whole = format_decimal(size, locale=LOCALE)
    if size < 1024:
        return _("{bytes} bytes").format(bytes=whole)
    if round(size / 1024, 1) < 1024:
        return _("{kb} KB ({bytes} bytes)").format(kb=format_decimal(round(size / 1024, 1), locale=LOCALE),
                                                   bytes=whole)
    return _("{mb} MB ({bytes} bytes)").format(mb=format_decimal(round(size / 1024 / 1024, 1), locale=LOCALE),
                                               bytes=whole)


FORMATS = {
    "image/jpeg": ("photo", "JPEG"), "image/jpg": ("photo", "JPEG"), "image/heic": ("photo", "HEIC"),
    "image/heif": ("photo", "HEIF"), "image/png": ("image", "PNG"), "image/webp": ("image", "WebP"),
    "image/gif": ("image", "GIF"), "image/tiff": ("image", "TIFF"), "image/bmp": ("image", "BMP"),
    "video/mp4": ("video", "MP4"), "video/quicktime": ("video", "MOV"), "video/3gpp": ("video", "3GP"),
    "video/webm": ("video", "WebM"), "video/x-matroska": ("video", "MKV"), "video/x-msvideo": ("video", "AVI"),
    "audio/ogg": ("audio", "OGG"), "audio/opus": ("audio", "Opus"), "audio/mpeg": ("audio", "MP3"),
    "audio/mp4": ("audio", "M4A"), "audio/aac": ("audio", "AAC"), "audio/amr": ("audio", "AMR"),
    "audio/wav": ("audio", "WAV"), "audio/x-wav": ("audio", "WAV"), "audio/flac": ("audio", "FLAC"),
    "application/pdf": ("pdf", ""), "application/msword": ("word", ""),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ("word", ""),
    "application/vnd.oasis.opendocument.text": ("text_document", ""),
    "application/vnd.ms-excel": ("excel", ""),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ("excel", ""),
    "application/vnd.ms-powerpoint": ("powerpoint", ""),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ("powerpoint", ""),
    "text/plain": ("text", ""), "application/zip": ("archive", "ZIP"), "application/x-zip-compressed": ("archive", "ZIP"),
    "application/vnd.rar": ("archive", "RAR"), "application/x-rar-compressed": ("archive", "RAR"),
}
"""A file's claimed type as an officer names it; the raw type is never shown."""


def kind_text(_: notify.Gettext, kind: str, mime: str | None) -> str:
    """"Foto JPEG", "Dokumen Word", "Video MP4": the kind of file in words."""
    family, name = FORMATS.get((mime or "").split(";")[0].strip().lower(), ("", ""))
    if not family and mime:
        major, _slash, minor = mime.lower().partition("/")
        family = {"image": "image", "video": "video", "audio": "audio"}.get(major, "")
        name = minor.removeprefix("x-").upper() if family and minor.isalnum() and len(minor) <= 5 else ""
    words = {
        "photo": _("{format} photo"), "image": _("{format} image"), "video": _("{format} video"),
        "audio": _("{format} audio recording"), "archive": _("{format} archive"),
        "pdf": _("PDF document"), "word": _("Word document"), "excel": _("Excel spreadsheet"),
        "powerpoint": _("PowerPoint presentation"), "text_document": _("Text document"), "text": _("Text file"),
    }
    if family in words and ("{format}" not in words[family] or name):
        return words[family].format(format=name)
    fallback = {"photo": _("Photo"), "image": _("Image"), "video": _("Video"), "audio": _("Audio recording")}
    return fallback.get(family) or fallback.get(kind) or _("Document")


def deadline_field(_: notify.Gettext, case: Case, today: date) -> Field:
    """Known + 7 days: the last day to report to Bawaslu, flagged once it has passed."""
    last = date.fromisoformat(case.learned_on) + timedelta(days=BAWASLU_DAYS)
    shown = long_date(last, LOCALE)
    left = (last - today).days
    if left < 0:
        return Field(_("Last day to report to Bawaslu"), _("{date}: PASSED {days} day(s) ago").format(
            date=shown, days=-left), alert=True)
    if left == 0:
        return Field(_("Last day to report to Bawaslu"), _("{date}: today").format(date=shown), alert=True)
    return Field(_("Last day to report to Bawaslu"), _("{date} ({days} day(s) left)").format(date=shown, days=left))


EVENT_LABELS = {
    "created": N_("Report received"),
    "status": N_("Status"),
    "reroute": N_("Sent to another region"),
    "info_request": N_("Question to the reporter"),
    "info_answer": N_("Reporter's answer"),
    "info_declined": N_("The reporter could not answer"),
    "reminder": N_("Reminder to the group"),
    "escalation": N_("Escalated to moderators"),
    "possible_duplicate": N_("Possible duplicate"),
    "reporter_blocked": N_("Reporter blocked"),
    "reporter_unblocked": N_("Reporter unblocked"),
    "identity_erased": N_("Reporter's identity removed"),
    "related": N_("Related report found"),
    "link": N_("Linked by a moderator"),
    "unlink": N_("Link removed by a moderator"),
    "case_file": N_("Case file (PDF) generated"),
}
REASON_LABELS = {
    "name": N_("similar name of the person reported"),
    "event": N_("same region, type and dates (within 3 days)"),
    "file": N_("identical evidence file"),
    "manual": N_("linked by a moderator"),
}


def reasons_text(_: notify.Gettext, reasons: tuple[str, ...] | list[str]) -> str:
    return ", ".join(_(REASON_LABELS[r]) if r in REASON_LABELS else r for r in reasons)


def actor_text(_: notify.Gettext, ref: str, name: str | None = None) -> str:
    if ref == "reporter":
        return _("Reporter")
    if ref == "system":
        return _("System")
    if ref == "shell":
        return _("Operator (command line)")
    return f"{name} ({ref})" if name else ref


async def _redact(tx: Tx, audience: Viewer, text: str | None) -> str | None:
    """Case numbers the audience may not see are hidden (a focal group sees its own)."""
    if not text:
        return text
    _ = gettext_for(LOCALE)
    shown = text
    for number in set(_CASE_NUMBER.findall(text)):
        other = await cases.by_number(tx, number)
        if other is None or not await may_see(tx, audience, other):
            shown = shown.replace(number, _("(another case)"))
    return shown


async def event_line(tx: Tx, audience: Viewer, event: CaseEvent, zone: ZoneInfo) -> str:
    _ = gettext_for(LOCALE)
    what = _(EVENT_LABELS[event.kind]) if event.kind in EVENT_LABELS else event.kind
    before, after, note = event.before, event.after, event.note
    if event.kind in ("related", "link", "unlink", "possible_duplicate"):
        other = await _redact(tx, audience, after or before)
        note = await _redact(tx, audience, reasons_text(_, note.split(",")) if event.kind == "related" and note
                             else note)
        what += f": {other}" if other else ""
    elif event.kind == "status":
        what += f": {status_label(_, before) if before else '-'} → {status_label(_, after) if after else '-'}"
    elif event.kind == "reroute":
        what += f": {notify.region_name(before)} → {notify.region_name(after)}"
    elif event.kind not in ("created", "reporter_blocked", "reporter_unblocked") and (before or after):
        what += f": {before or '-'} → {after or '-'}"
    if note:
        what += f" · {note}"
    return f"{when_text(event.at, zone)} · {actor_text(_, event.actor, event.actor_name)} · {what}"


async def audience_label(tx: Tx, audience: Viewer, requester_name: str | None) -> str:
    _ = gettext_for(LOCALE)
    if audience.kind == GROUP and audience.chat_id is not None:
        found = await routes.of_chat(tx, audience.chat_id)
        title = next((r.chat_title for r in found if r.chat_title), None)
        if is_roster(audience.chat_id):
            return _("Focal point on WhatsApp \"{title}\"").format(
                title=title or ", ".join(sorted({notify.region_name(r.region_code) for r in found})) or "-")
        if title:
            return _("Focal-point group \"{title}\"").format(title=title)
        names = sorted({notify.region_name(r.region_code) for r in found})
        return _("Focal-point group for {regions}").format(regions=", ".join(names)) if names else _(
            "Focal-point group")
    if audience.kind == PRIVATE:
        role = _("Admin") if audience.role == Role.ADMIN else _("Moderator")
        return _("{role} {name}, private chat").format(role=role, name=requester_name or "-")
    return _("Operator (command line), with the reporter's identity") if audience.identity else _(
        "Operator (command line), without the reporter's identity")


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    whole = round(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}" if whole >= 3600 else f"{whole // 60}:{whole % 60:02d}"


def _evidence_entry(_: notify.Gettext, item: Evidence, zone: ZoneInfo, show_held: bool = False,
                    cleaned: CleanedFile | None = None) -> EvidenceEntry:
    """`show_held` is for moderators and the shell, who may hold the originals: they read the
    original's SHA-256 and size. Anyone else reads the cleaned copy's hash (what they were
    sent, so what they can check), and no size: a superior holding a subordinate's photos
    could match the original's hash or its exact byte count to its owner."""
    duration = cleaned.duration if cleaned is not None else None
    heading = _("Evidence {position}").format(position=item.position)
    received = Field(_("Received"), when_text(item.created_at, zone))
    if item.kind == "link":
        if item.held:
            kind = _("Link NOT yet cleaned: kept for the moderators, do not forward")
            address = (item.url or "-") if show_held else _("shown to moderators only")
        else:
            kind = _("Link ({platform})").format(platform=links.label(item.url or ""))
            address = item.url or "-"
        return EvidenceEntry(item.id, None, False, None, heading, (
            Field(_("Type"), kind, alert=item.held), Field(_("Address"), address, mono=True), received), file=False)
    if item.kind == "message":
        origin_at = when_text(item.origin_at, zone) if item.origin_at else "-"
        return EvidenceEntry(item.id, None, False, None, heading, (
            Field(_("Type"), _("Forwarded message")),
            Field(_("Forwarded from"), item.origin or _("not given")),
            Field(_("First sent"), origin_at),
            Field(_("Text"), item.text or "-"),
            received), file=False)
    image = item.kind == "photo" or (item.mime or "").startswith("image/")
    fields = [Field(_("Type"), kind_text(_, item.kind, item.mime))]
    if item.kind in ("audio", "video"):
        fields.append(Field(_("Duration"), duration_text(duration)))
    if show_held:
        fields += [Field(_("Size"), size_text(_, item.size)), received,
                   Field("SHA-256", item.sha256 or _("not recorded"), mono=True)]
    else:
        clean_hash = cleaned.clean_sha256 if cleaned is not None else None
        fields += [received, Field(_("SHA-256 (cleaned copy)"), clean_hash or _("no cleaned copy"), mono=True)]
    return EvidenceEntry(item.id, item.sha256, image, item.mime, heading, tuple(fields))


async def gather(tx: Tx, order: Order, now: datetime, zone: ZoneInfo) -> Content | None:
    """Everything the file says, or None when the audience may not see the case (any
    more): the file never goes where the case does not."""
    _ = gettext_for(LOCALE)
    case = await cases.get(tx, order.case_id)
    if case is None or not await may_see(tx, order.audience, case):
        return None
    show_identity = await identity_allowed(tx, order.audience, case)
    evidence = await cases.evidence_of(tx, case.id)
    cleaned = {e.id: known for e in evidence if e.sha256 and (known := await cleaned_files.get(tx, e.sha256))}
    show_held = order.audience.kind == SHELL or (order.audience.kind == PRIVATE
                                                 and order.audience.role in (Role.ADMIN, Role.MODERATOR))
    events = await cases.events_of(tx, case.id)
    linked = await related.visible(tx, case.id, order.audience)
    label = await audience_label(tx, order.audience, order.requester_name)
    local_now = _local(now, zone)
    incident = menus.incident(case.incident_type, case.agency_group)

    def day(iso: str) -> str:
        return long_date(date.fromisoformat(iso), LOCALE)

    coordinates = (f"{case.latitude:.6f}, {case.longitude:.6f}" if case.latitude is not None
                   and case.longitude is not None else _("no pin sent"))
    shown = identity_text(_, case, show_identity)
    if case.identity_mode == "terbuka" and not show_identity and not case.identity_erased_at:
        shown = _("Open, but not shown in this copy")
    identity = [Field(_("Reporter"), shown)]
    if case.identity_mode == "anonim":
        identity.append(Field(_("Note"), _("An anonymous report counts as initial information; a formal "
                                           "report to Bawaslu needs the reporter's identity.")))
    sections = (
        Section(_("Case"), (
            Field(_("Case number"), case.number),
            Field(_("Region"), region_label(case.province_code, case.region_code)),
            Field(_("Status"), status_label(_, case.status)),
            Field(_("Received on"), when_text(case.created_at, zone)),
        )),
        Section(_("Person reported"), (
            Field(_("Agency"), case.agency_name or _("name unknown")),
            Field(_("Kind of agency"), agency_label(_, case.agency_group, case.agency_unit, None)),
            Field(_("Name"), case.person_name or _("name unknown")),
            Field(_("Position"), case.person_position or "-"),
            Field(_("Employment status"), employment_text(_, case)),
        )),
        Section(_("Alleged breach"), (
            Field(_("Incident type"), _(incident.label) if incident else case.incident_type),
            Field(_("Rule it touches"), rule_text(_, case)),
            Field(_("Happened on"), day(case.occurred_on)),
            Field(_("Became known on"), day(case.learned_on)),
            deadline_field(_, case, local_now.date()),
        )),
        Section(_("Place"), (
            Field(_("Place"), case.place),
            Field(_("Pin coordinates"), coordinates),
        )),
        Section(_("Chronology"), text=case.description),
        Section(_("Witnesses"), text=case.witnesses or "-"),
        Section(_("Reporter"), tuple(identity)),
        Section(_("Evidence"), evidence=tuple(_evidence_entry(_, e, zone, show_held, cleaned.get(e.id))
                                              for e in evidence),
                empty=_("No evidence was sent.")),
        Section(_("Related reports"), tuple(Field(r.number, reasons_text(_, r.reasons)) for r in linked),
                empty=_("None found.")),
        Section(_("Audit trail"), lines=tuple([await event_line(tx, order.audience, e, zone) for e in events])),
        Section(_("This file"), (
            Field(_("Generated on"), when_text(local_now, zone)),
            Field(_("For"), label),
            Field(_("Requested by"), actor_text(_, order.requested_by, order.requester_name)),
            Field(_("Integrity"), _("The SHA-256 of this PDF is recorded in the case's audit trail (/jejak "
                                    "{number}), so a copy can be checked against it.").format(number=case.number)),
        )),
        Section(_("Receipt"), blanks=(_("Received by"), _("Position and office"), _("Date"), _("Signature"))),
    )
    return Content(
        case_id=case.id, number=case.number,
        title=_("Case file {number}").format(number=case.number),
        subtitle=subtitle_text(_, case),
        sections=sections,
        footer=_("{number} · generated {when} for {audience}").format(
            number=case.number, when=when_text(local_now, zone), audience=label),
        page_label=_("Page {page} of {pages}"),
        generated_at=local_now, audience_label=label, with_identity=show_identity,
        preview_label=_("Thumbnail"),
        no_preview={"unsafe": _("No thumbnail: the file could not be made safe to show."),
                    "missing": _("No thumbnail: the file is not held on this server."),
                    "other": _("No thumbnail for this kind of file.")},
    )


def file_name(number: str) -> str:
    return f"berkas-{number}.pdf"


async def order(tx: Tx, request: Order, chat_id: int, at: str, reply_to: int | None = None, *,
                to: tuple[str, str] | None = None) -> int | None:
    """Queue a case file for a chat; the delivery worker generates and sends it. None when
    one is already waiting for this chat (a double press makes one file). `to`: the
    channel and address it goes to when that is not the chat itself (an officer of a
    WhatsApp roster gets it on their own number; the audience is still the roster's)."""
    channel, address = to or (notify.GROUP_CHANNEL, str(chat_id))
    if await case_files.waiting(tx, channel, address, request.case_id):
        return None
    return await outbox.enqueue(tx, channel, address, "send",
                                {"case_file": request.to_dict(), "reply_to": reply_to}, at, case_id=request.case_id)


async def record(tx: Tx, content: Content, request: Order, sha256: str, size: int, at: str,
                 delivery_id: int | None, data: bytes | None) -> None:
    """Generating a file is a case event carrying the file's own SHA-256."""
    await case_files.add(tx, content.case_id, delivery_id, sha256, size, content.audience_label, at, data)
    await cases.add_event(tx, content.case_id, at, request.requested_by, "case_file", None, None,
                          f"SHA-256 {sha256} · {content.audience_label}")
