"""Dates as reporters type them.

Exact dates (19/11/2024, 19-11-2024, 19 nov 2024, Selasa 19 November 2024) are read here,
day first as Indonesians write them, so an impossible one ("31/02/2024") can be told
apart from one that cannot be read. Weekdays ("Senin kemarin") are counted back from
today. Relative and partial dates ("kemarin", "2 hari lalu", "28 nov", "28/11") go to
dateparser, which knows Indonesian and English; a date without its year is the most
recent such date that is not in the future.

dateparser is imported at its first use: it costs about 0.1 s and its language data about
0.3 s more, which a console or a test that never reads a relative date does not pay.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

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
_WEEKDAYS = {
    "senin": 0, "monday": 0, "selasa": 1, "tuesday": 1, "rabu": 2, "wednesday": 2,
    "kamis": 3, "thursday": 3, "jumat": 4, "jum'at": 4, "friday": 4,
    "sabtu": 5, "saturday": 5, "minggu": 6, "ahad": 6, "sunday": 6,
}
_NUMERIC = re.compile(r"^(\d{1,2})\s*[/\-.]\s*(\d{1,2})\s*[/\-.]\s*(\d{2}|\d{4})$")
_WORDS = re.compile(r"^(\d{1,2})\s*[-/ ]?\s*([a-z]+)\.?\s*[-/ ]?\s*(\d{2}|\d{4})$")
_PARTIAL = re.compile(r"^(\d{1,2})\s*(?:[/\-.]\s*(\d{1,2})|[-/ ]?\s*([a-z]+)\.?)$")
_FILLER = re.compile(r"^(?:(?:pada|pd|tanggal|tgl\.?|on)\s+)+")
_TIME_OF_DAY = re.compile(r"\s+(?:pagi|siang|sore|malam|petang|morning|afternoon|evening|night)$")
_BEFORE = ("kemarin", "lalu", "yang lalu", "kmrn", "last")
_LAST_WEEK = frozenset({"minggu lalu", "minggu kemarin", "pekan lalu", "pekan kemarin", "last week"})
_LANGUAGES = ["id", "en"]

Problem = Literal["unreadable", "impossible"]


@dataclass(frozen=True, slots=True)
class TypedDate:
    """A typed date: the day meant, or why there is none."""

    value: date | None
    problem: Problem | None = None


def _year(text: str) -> int:
    value = int(text)
    return value + 2000 if len(text) == 2 else value


def _clean(text: str) -> tuple[str, bool]:
    """The text without filler words, and whether it said "hari" before a weekday
    ("hari Minggu kemarin" is last Sunday, "minggu kemarin" last week)."""
    cleaned = " ".join(text.strip().lower().replace(",", " ").split()).strip(".!?")
    cleaned = _TIME_OF_DAY.sub("", _FILLER.sub("", cleaned))
    day_word = cleaned.startswith("hari ") and cleaned.split()[1] in _WEEKDAYS
    if day_word:
        cleaned = cleaned.removeprefix("hari ")
    return ("hari ini" if cleaned in ("tadi", "barusan") else cleaned), day_word


def read_date(text: str, today: date) -> TypedDate:
    """What the reporter meant, relative to `today`. The caller decides about dates in
    the future (a year is never guessed into the future, but "besok" is tomorrow)."""
    cleaned, day_word = _clean(text)
    if cleaned.startswith("last ") and cleaned.split()[1] in _WEEKDAYS:
        cleaned = f"{cleaned.split()[1]} last"  # "last friday" as "Jumat lalu"
    weekday_name, _, rest = cleaned.partition(" ")
    if weekday_name in _WEEKDAYS and (day_word or cleaned not in _LAST_WEEK):
        if not rest:
            return TypedDate(_weekday(today, _WEEKDAYS[weekday_name], strictly_before=False))
        if rest in _BEFORE:
            return TypedDate(_weekday(today, _WEEKDAYS[weekday_name], strictly_before=True))
        cleaned = rest  # "Selasa, 19 November 2024": the weekday is only decoration
    exact = _exact(cleaned)
    if exact is not None:
        return exact
    partial = _partial(cleaned, today)
    if partial is not None:
        return partial
    if cleaned in _LAST_WEEK:
        return TypedDate(today - timedelta(days=7))
    if not re.search(r"[a-z]", cleaned):
        return TypedDate(None, "unreadable")  # a bare number is no date
    found = _dateparser(cleaned, today)
    return TypedDate(found) if found else TypedDate(None, "unreadable")


def _weekday(today: date, weekday: int, strictly_before: bool) -> date:
    back = (today.weekday() - weekday) % 7
    if back == 0 and strictly_before:
        back = 7
    return today - timedelta(days=back)


def _exact(cleaned: str) -> TypedDate | None:
    match = _NUMERIC.match(cleaned)
    if match:
        day, month, year = int(match.group(1)), int(match.group(2)), _year(match.group(3))
    else:
        match = _WORDS.match(cleaned)
        if not match or match.group(2) not in _MONTHS:
            return None
        day, month, year = int(match.group(1)), _MONTHS[match.group(2)], _year(match.group(3))
    try:
        return TypedDate(date(year, month, day))
    except ValueError:
        return TypedDate(None, "impossible")


def _partial(cleaned: str, today: date) -> TypedDate | None:
    """Day and month without a year: checked here, resolved by dateparser."""
    match = _PARTIAL.match(cleaned)
    if not match:
        return None
    day = int(match.group(1))
    if match.group(2):
        month = int(match.group(2))
    elif match.group(3) in _MONTHS:
        month = _MONTHS[match.group(3)]
    else:
        return None
    if not 1 <= month <= 12 or not 1 <= day <= (29 if month == 2 else calendar.monthrange(2001, month)[1]):
        return TypedDate(None, "impossible")
    found = _dateparser(f"{day}/{month}", today)
    if found is None or found > today:  # 29/02 lands on the latest leap year
        found = next((date(year, month, day) for year in range(today.year, today.year - 9, -1)
                      if calendar.isleap(year) or (month, day) != (2, 29)
                      if date(year, month, day) <= today), None)
    return TypedDate(found) if found else TypedDate(None, "impossible")


def _dateparser(text: str, today: date) -> date | None:
    import dateparser  # noqa: PLC0415  (lazy: see the module docstring)

    settings: Any = {
        "PREFER_DATES_FROM": "past", "DATE_ORDER": "DMY", "REQUIRE_PARTS": ["day", "month"],
        "RELATIVE_BASE": datetime.combine(today, time(12)), "RETURN_AS_TIMEZONE_AWARE": False,
    }
    found = dateparser.parse(text, languages=_LANGUAGES, settings=settings)
    return found.date() if found else None
