"""Issue 29, exports an officer can open: Indonesian headers, the labels the chat shows (the
codes after them, for machines), local times to the minute, real date cells, a frozen and
filtered header row, columns as wide as their contents. Read back with openpyxl and csv."""

from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from tests.test_shell import installation, seeded, shell

__all__ = ["installation", "seeded"]  # the fixtures, shared with tests/test_shell.py


def _xlsx(folder: Path, lines: list[str]) -> Path:
    return folder / next(line for line in lines if line.endswith(".xlsx"))


def test_the_xlsx_export_is_a_report_an_officer_can_open(installation: tuple[Path, str]) -> None:
    folder, number = installation
    code, out, err = shell(folder, "export")
    assert code == 0, err
    assert out[-1] == "1 kasus diekspor.", "the plural is right, in Indonesian"
    book = openpyxl.load_workbook(_xlsx(folder, out))
    sheet = book.active
    assert sheet is not None and sheet.title == "Kasus"
    header = [c.value for c in sheet[1]]
    assert header[:6] == ["Nomor kasus", "Diterima (WIB)", "Status", "Saluran", "Provinsi", "Kabupaten/kota"]
    assert "Nama pelapor" not in header, "no identity without --identity"
    row = dict(zip(header, [c for c in sheet[2]], strict=True))
    assert row["Nomor kasus"].value == number
    assert row["Status"].value == "Baru" and row["status"].value == "baru", "the label, and the code for machines"
    assert row["Jenis pelanggaran"].value == "Kampanye di media sosial" and row["incident_type"].value == "media_sosial"
    assert row["Instansi"].value == "Pemerintah Daerah · Sekolah negeri" and row["agency_group"].value == "pemda"
    assert row["Status kepegawaian"].value == "PNS" and row["Identitas pelapor"].value == "Rahasia"
    received = row["Diterima (WIB)"]
    stored = datetime.fromisoformat(row["created_at_utc"].value)
    assert received.is_date and received.value == stored.astimezone(ZoneInfo("Asia/Jakarta")).replace(
        second=0, microsecond=0, tzinfo=None), "a real date cell, local, to the minute"
    assert received.number_format == "yyyy-mm-dd hh:mm"
    assert row["Tanggal kejadian"].is_date and row["Tanggal kejadian"].value.date() == date(2024, 11, 19)
    assert sheet.freeze_panes == "A2", "the header row stays in view"
    assert sheet.auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(len(header))}2"
    widths = {c.value: sheet.column_dimensions[openpyxl.utils.get_column_letter(c.column)].width for c in sheet[1]}
    assert widths["Nomor kasus"] >= len("Nomor kasus") and widths["Diterima (WIB)"] >= len("2024-11-21 10:00")
    assert widths["Kronologi"] > widths["Status"], "a long text gets a wider column"
    assert max(widths.values()) <= 70, "but not a screenful"


def test_the_csv_export_reads_in_a_spreadsheet_too(installation: tuple[Path, str]) -> None:
    folder, number = installation
    code, out, _err = shell(folder, "export", "--format", "csv", "--identity", "--lang", "en")
    assert code == 0 and out[-1] == "1 case exported, with the reporter's identity.", out
    raw = (folder / out[0]).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "a BOM, so that Excel reads UTF-8"
    with (folder / out[0]).open(encoding="utf-8-sig") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["Case number"] == number and row["Status"] == "New" and row["status"] == "baru"
    assert row["Received (WIB)"].count(":") == 1, "to the minute"
    assert row["Reporter's name"] == "Siti Aminah"


@pytest.mark.parametrize("period", [("--since", "2024-11-21"), ("--until", "2024-11-20")])
def test_export_dates_are_days_in_the_service_zone(installation: tuple[Path, str], period: tuple[str, str]) -> None:
    """The case came in at 10:00 WIB on 21 November (03:00 UTC): it is in that day, not the 20th."""
    folder, _number = installation
    code, out, err = shell(folder, "export", "--format", "csv", *period)
    assert code == 0, err
    assert out[-1] == ("1 kasus diekspor." if period[0] == "--since" else "0 kasus diekspor.")
