"""Dates as reporters type them: 19/11/2024, 19-11-2024, 19 nov 2024, 19 November 2024."""

from __future__ import annotations

import re
from datetime import date

_MONTHS = {
    "januari": 1, "january": 1, "jan": 1,
    "februari": 2, "february": 2, "pebruari": 2, "feb": 2, "peb": 2,
    "maret": 3, "march": 3, "mar": 3,
    "april": 4, "apr": 4,
    "mei": 5, "may": 5,
    "juni": 6, "june": 6, "jun": 6,
    "juli": 7, "july": 7, "jul": 7,
    "agustus": 8, "august": 8, "agu": 8, "agt": 8, "aug": 8, "ags": 8,
    "september": 9, "sep": 9, "sept": 9,
    "oktober": 10, "october": 10, "okt": 10, "oct": 10,
    "november": 11, "nov": 11, "nopember": 11, "nop": 11,
    "desember": 12, "december": 12, "des": 12, "dec": 12,
}
_NUMERIC = re.compile(r"^(\d{1,2})\s*[/\-.]\s*(\d{1,2})\s*[/\-.]\s*(\d{2}|\d{4})$")
_WORDS = re.compile(r"^(\d{1,2})\s*[-/ ]?\s*([a-z]+)\.?\s*[-/ ]?\s*(\d{2}|\d{4})$")


def _year(text: str) -> int:
    value = int(text)
    return value + 2000 if len(text) == 2 else value


def parse_date(text: str) -> date | None:
    """The date meant, or None. Day first, as Indonesians write it; a 2-digit year is 20xx."""
    cleaned = " ".join(text.strip().lower().replace(",", " ").split())
    cleaned = re.sub(r"^(senin|selasa|rabu|kamis|jumat|jum'at|sabtu|minggu|ahad)\s+", "", cleaned)
    match = _NUMERIC.match(cleaned)
    if match:
        day, month, year = int(match.group(1)), int(match.group(2)), _year(match.group(3))
    else:
        match = _WORDS.match(cleaned)
        if not match or match.group(2) not in _MONTHS:
            return None
        day, month, year = int(match.group(1)), _MONTHS[match.group(2)], _year(match.group(3))
    try:
        return date(year, month, day)
    except ValueError:
        return None
