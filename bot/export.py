"""Cases as CSV and XLSX, streamed: rows are read from SQLite in chunks and written as
they come (XlsxWriter in constant-memory mode), so memory stays flat however many cases
there are. Identity columns only when the caller may see them (admins)."""

from __future__ import annotations

import asyncio
import csv
import queue
import threading
from collections.abc import AsyncIterator
from pathlib import Path

from cleaning.links import label
from flows import regions
from storage import Database
from storage.case_queries import CaseFilter, stream
from storage.cases import Case

COLUMNS = ["number", "created_at", "status", "channel", "region_code", "region", "province_code",
           "agency_group", "agency_unit", "agency_name", "person_name", "person_position", "person_status",
           "incident_type", "occurred_on", "learned_on", "place", "latitude", "longitude", "description",
           "witnesses", "evidence_count", "links", "identity_mode"]
IDENTITY_COLUMNS = ["reporter_name", "reporter_phone"]


def row_of(case: Case, evidence_count: int, identity: bool, links: list[str] | None = None) -> list[object]:
    """`links`: the case's cleaned links as "Platform: address" (never one not yet cleaned)."""
    region = regions.get(case.region_code)
    values: list[object] = [
        case.number, case.created_at, case.status, case.channel, case.region_code,
        region.name if region else "", case.province_code, case.agency_group, case.agency_unit or "",
        case.agency_name or "", case.person_name or "", case.person_position or "", case.person_status,
        case.incident_type, case.occurred_on, case.learned_on, case.place,
        case.latitude if case.latitude is not None else "", case.longitude if case.longitude is not None else "",
        case.description, case.witnesses or "", evidence_count, "\n".join(links or []), case.identity_mode,
    ]
    if identity:
        values += [case.reporter_name or "", case.reporter_phone or ""]
    return values


async def rows(db: Database, where: CaseFilter, identity: bool) -> AsyncIterator[list[object]]:
    async with db.reading() as tx:
        async for case, count, found in stream(tx, where, with_links=True):
            yield row_of(case, count, identity, [f"{label(url)}: {url}" for url in found])


async def write_files(db: Database, where: CaseFilter, identity: bool, csv_path: Path | None,
                      xlsx_path: Path | None) -> int:
    """Write the export; file writing runs in a thread fed through a small bounded queue."""
    header = COLUMNS + (IDENTITY_COLUMNS if identity else [])
    lines: queue.Queue[list[object] | None] = queue.Queue(maxsize=1000)
    writer = threading.Thread(target=_write, args=(header, lines, csv_path, xlsx_path), daemon=True)
    writer.start()
    count = 0
    try:
        async for row in rows(db, where, identity):
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
    return count


def _write(header: list[str], lines: queue.Queue[list[object] | None], csv_path: Path | None,
           xlsx_path: Path | None) -> None:
    csv_file = csv_path.open("w", newline="", encoding="utf-8") if csv_path else None
    import xlsxwriter  # on first export, not at start-up (a lean process)

    book = xlsxwriter.Workbook(str(xlsx_path), {"constant_memory": True, "strings_to_formulas": False,
                                                "strings_to_urls": False}) if xlsx_path else None
    try:
        table = csv.writer(csv_file) if csv_file else None
        sheet = book.add_worksheet("cases") if book else None
        if table:
            table.writerow(header)
        if sheet:
            sheet.write_row(0, 0, header)
        number = 1
        while (row := lines.get()) is not None:
            if table:
                table.writerow([_inert(value) for value in row])
            if sheet:
                sheet.write_row(number, 0, row)
            number += 1
    finally:
        if csv_file:
            csv_file.close()
        if book:
            book.close()


def _inert(value: object) -> object:
    """A text cell that a spreadsheet would read as a formula is prefixed with an apostrophe
    (CSV injection). XLSX needs no such care: strings are written as strings."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
