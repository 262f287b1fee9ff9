"""Regions, dates, phone numbers and case numbers as people type them."""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest

from flows import regions
from flows.case import case_number
from flows.dates import read_date
from flows.reporter.report import normalize_phone


@pytest.mark.parametrize("typed, codes", [
    ("denpasar", ["51.71"]), ("kab badung", ["51.03"]), ("Kab. Badung", ["51.03"]),
    ("baubau", ["74.72"]), ("Bau-Bau", ["74.72"]), ("fakfak", ["92.03"]), ("jakarta", ["31"]),
    ("DKJ", ["31"]), ("jakarta selatan", ["31.74"]), ("Kep. Seribu", ["31.01"]),
    ("bandung", ["32.04", "32.73"]), ("kota bandung", ["32.73"]), ("surabya", ["35.78"]),
    ("yogyakarta", ["34", "34.71"]), ("bali", ["51"]), ("zzzz", []), ("", []),
])
def test_region_search(typed: str, codes: list[str]) -> None:
    assert [r.code for r in regions.search(typed)] == codes


def test_region_catalog_is_complete() -> None:
    assert len(regions.provinces()) == 38
    assert len(regions.all_regions()) == 552
    assert all(regions.get(r.province_code) for r in regions.all_regions())


@pytest.mark.parametrize("typed, expected", [
    ("19/11/2024", date(2024, 11, 19)), ("19-11-2024", date(2024, 11, 19)),
    ("19 nov 2024", date(2024, 11, 19)), ("19 November 2024", date(2024, 11, 19)),
    ("Kamis, 19 November 2020", date(2020, 11, 19)), ("1 Agustus 24", date(2024, 8, 1)),
    ("5 Mei 2024", date(2024, 5, 5)), ("31/02/2024", None), ("bukan tanggal", None), ("", None),
    ("28 nov", date(2023, 11, 28)), ("2 hari lalu", date(2024, 11, 19)),
])
def test_dates(typed: str, expected: date | None) -> None:
    assert read_date(typed, date(2024, 11, 21)).value == expected


@pytest.mark.parametrize("typed, expected", [
    ("0812 3456 7890", "+6281234567890"), ("+62 812-3456-7890", "+6281234567890"),
    ("6281234567890", "+6281234567890"), ("12345", None), ("abc", None),
])
def test_phone_numbers(typed: str, expected: str | None) -> None:
    assert normalize_phone(typed) == expected


def test_case_numbers_are_short_readable_and_spread() -> None:
    at = datetime(2024, 11, 19)
    numbers = {case_number.make(n * 7919, at) for n in range(1000)}
    assert len(numbers) == 1000
    assert all(re.fullmatch(r"LN-24-[2-9A-HJ-NP-Z]{5}", n) for n in numbers)
    assert case_number.normalize("ln 24 7k3q9") == "LN-24-7K3Q9"
    assert case_number.normalize("LN-24-0O1I0") is None
