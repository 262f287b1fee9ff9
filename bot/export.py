"""Cases as CSV and XLSX for the officers who open them: headers in their language, the
labels the chat shows (the internal codes follow in extra columns, for machines), times in
the service's zone to the minute, real date cells in XLSX with a frozen, filtered header
row and columns as wide as their contents. Identity columns only when the caller may see
them (admins).

Streamed: rows are read in chunks and written as they come (XlsxWriter in constant-memory
mode), so memory stays flat however many cases there are."""

from __future__ import annotations

import asyncio
import csv
import queue
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from cleaning.links import label
from flows import menus, regions
from flows.case.case_text import status_label
from flows.i18n import N_, gettext_for
from flows.reporter.summary import agency_label
from storage import Database
from storage.case_queries import CaseFilter, stream
from storage.cases import Case

HEADERS = (
    N_("Case number"), N_("Received ({zone})"), N_("Status"), N_("Channel"), N_("Province"), N_("Regency/city"),
    N_("Agency"), N_("Agency name"), N_("Person reported"), N_("Position"), N_("Employment status"),
    N_("Incident type"), N_("Happened on"), N_("Reporter found out on"), N_("Place"), N_("Latitude"),
    N_("Longitude"), N_("What happened"), N_("Witnesses"), N_("Evidence files"), N_("Links"), N_("Reporter's identity"),
)
IDENTITY_HEADERS = (N_("Reporter's name"), N_("Reporter's phone"))
CODES = ["status", "channel", "region_code", "province_code", "agency_group", "agency_unit", "person_status",
         "incident_type", "identity_mode", "created_at_utc"]
"""The internal codes after the readable columns, under names that do not change with
the language, for scripts and for joining exports."""
CHANNELS = {"telegram": "Telegram", "whatsapp": "WhatsApp", "console": N_("Console")}
MAX_WIDTH = 60
SHEET = N_("Cases")


@dataclass(frozen=True, slots=True)
class Layout:
    """Whose export: the language of its headers and labels, and the zone of its times."""

    locale: str = "id"
    timezone: str = "Asia/Jakarta"

    def header(self, identity: bool) -> list[str]:
        _ = gettext_for(self.locale)
        zone = datetime.now(ZoneInfo(self.timezone)).tzname() or self.timezone
        names = [_(h).format(zone=zone) for h in HEADERS]
        if identity:
            names += [_(h) for h in IDENTITY_HEADERS]
        return names + CODES

    def row(self, case: Case, evidence_count: int, identity: bool, links: list[str] | None = None) -> list[object]:
        """Readable values first (dates as `date`/`datetime`, local, to the minute), then the codes;
        `links`: the case's cleaned links as "Platform: address" (never one not yet cleaned)."""
        _ = gettext_for(self.locale)
        region = regions.get(case.region_code)
        province = regions.get(case.province_code)
        incident = menus.incident(case.incident_type, case.agency_group)
        person = menus.person_status(case.person_status)
        mode = menus.find(menus.IDENTITY_MODES, case.identity_mode)
        group = menus.agency_group(case.agency_group)
        received = datetime.fromisoformat(case.created_at).astimezone(ZoneInfo(self.timezone))
        values: list[object] = [
            case.number, received.replace(second=0, microsecond=0, tzinfo=None), status_label(_, case.status),
            _(CHANNELS[case.channel]) if case.channel in CHANNELS else case.channel,
            province.name if province else case.province_code, region.name if region else case.region_code,
            agency_label(_, case.agency_group, case.agency_unit, None) if group else case.agency_group,
            case.agency_name or "", case.person_name or "", case.person_position or "",
            _(person.label) if person else case.person_status, _(incident.label) if incident else case.incident_type,
            _day(case.occurred_on), _day(case.learned_on), case.place,
            case.latitude if case.latitude is not None else "", case.longitude if case.longitude is not None else "",
            case.description, case.witnesses or "", evidence_count, "\n".join(links or []),
            _(mode.label) if mode else case.identity_mode,
        ]
        if identity:
            values += [case.reporter_name or "", case.reporter_phone or ""]
        return values + [case.status, case.channel, case.region_code, case.province_code, case.agency_group,
                         case.agency_unit or "", case.person_status, case.incident_type, case.identity_mode,
                         case.created_at]


def _day(iso: str) -> date | str:
    try:
        return date.fromisoformat(iso)
    except ValueError:
        return iso


def row_of(case: Case, evidence_count: int, identity: bool, layout: Layout | None = None) -> list[object]:
    return (layout or Layout()).row(case, evidence_count, identity)


async def rows(db: Database, where: CaseFilter, identity: bool, layout: Layout) -> AsyncIterator[list[object]]:
    async with db.reading() as tx:
        async for case, count, found in stream(tx, where, with_links=True):
            yield layout.row(case, count, identity, [f"{label(url)}: {url}" for url in found])


async def write_files(db: Database, where: CaseFilter, identity: bool, csv_path: Path | None,
                      xlsx_path: Path | None, *, layout: Layout | None = None) -> int:
    """Write the export; file writing runs in a thread fed through a small bounded queue."""
    layout = layout or Layout()
    header = layout.header(identity)
    lines: queue.Queue[list[object] | None] = queue.Queue(maxsize=1000)
    failed: list[BaseException] = []
    writer = threading.Thread(target=_write, args=(header, lines, csv_path, xlsx_path, layout, failed), daemon=True)
    writer.start()
    count = 0
    try:
        async for row in rows(db, where, identity, layout):
            while True:
                try:
                    lines.put_nowait(row)
                    break
                except queue.Full:
                    await asyncio.sleep(0.005)
            count += 1
    finally:
        await asyncio.to_thread(lines.put, None)
        await asyncio.to_thread(writer.join)
    if failed:
        raise failed[0]
    return count


def _write(header: list[str], lines: queue.Queue[list[object] | None], csv_path: Path | None,
           xlsx_path: Path | None, layout: Layout, failed: list[BaseException]) -> None:
    try:
        _write_files(header, lines, csv_path, xlsx_path, layout)
    except BaseException as exc:  # noqa: BLE001 - handed to the caller, who raises it
        failed.append(exc)
        while lines.get() is not None:  # the reader goes on to its end: take its rows
            pass


def _write_files(header: list[str], lines: queue.Queue[list[object] | None], csv_path: Path | None,
                 xlsx_path: Path | None, layout: Layout) -> None:
    csv_file = csv_path.open("w", newline="", encoding="utf-8-sig") if csv_path else None  # BOM: Excel reads UTF-8
    import xlsxwriter  # on first export, not at start-up (a lean process)

    book = xlsxwriter.Workbook(str(xlsx_path), {"constant_memory": True, "strings_to_formulas": False,
                                                "strings_to_urls": False}) if xlsx_path else None
    try:
        table = csv.writer(csv_file) if csv_file else None
        sheet = book.add_worksheet(gettext_for(layout.locale)(SHEET)) if book else None
        cell: Callable[[int, int, object], None] | None = None
        widths = [len(name) for name in header]
        if table:
            table.writerow(header)
        if book and sheet:
            bold = book.add_format({"bold": True, "bg_color": "#DDE7F0", "text_wrap": True, "valign": "top"})
            moment = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
            day = book.add_format({"num_format": "yyyy-mm-dd"})
            sheet.write_row(0, 0, header, bold)
            sheet.freeze_panes(1, 0)

            def cell(row: int, column: int, value: object) -> None:
                if isinstance(value, datetime):
                    sheet.write_datetime(row, column, value, moment)
                elif isinstance(value, date):
                    sheet.write_datetime(row, column, datetime.combine(value, datetime.min.time()), day)
                elif isinstance(value, str):
                    sheet.write_string(row, column, value)
                else:
                    sheet.write(row, column, value)

        number = 1
        while (row := lines.get()) is not None:
            if table:
                table.writerow([_csv_text(value) for value in row])
            if cell is not None:
                for column, value in enumerate(row):
                    cell(number, column, value)
            for column, value in enumerate(row):
                widths[column] = max(widths[column], _width(value))
            number += 1
        if book and sheet:
            for column, width in enumerate(widths):
                sheet.set_column(column, column, min(width, MAX_WIDTH) + 2)
            sheet.autofilter(0, 0, max(number - 1, 0), len(header) - 1)
    finally:
        if csv_file:
            csv_file.close()
        if book:
            book.close()


def _width(value: object) -> int:
    if isinstance(value, datetime):
        return 16
    if isinstance(value, date):
        return 10
    text = str(value)
    return max((len(line) for line in text.splitlines()), default=0)


def _csv_text(value: object) -> object:
    """Times as `2026-12-07 16:07` (local), dates as `2026-12-07`; a text cell that a
    spreadsheet would read as a formula gets a leading apostrophe (CSV injection). XLSX
    needs no such care: strings are written as strings."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
