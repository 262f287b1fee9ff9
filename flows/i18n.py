"""Translations from the Babel catalogs in `locales/`.

The `.po` files are compiled in memory the first time a locale is used, so there is no
build step to forget and no stale `.mo` file to ship.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import date, datetime, tzinfo
from functools import cache
from importlib import resources

from babel import Locale
from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALES = ("id", "en")
DEFAULT_LOCALE = "id"


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated where it is shown."""
    return message


def normalize_locale(code: str | None, default: str = DEFAULT_LOCALE) -> str:
    """A client's language tag to one of ours: Indonesian if it says so, else English.

    With no tag at all the service default applies.
    """
    if not code:
        return default
    base = code.replace("_", "-").split("-")[0].lower()
    return base if base in LOCALES else "en"


@cache
def translations(locale: str) -> Translations:
    po = resources.files("locales").joinpath(locale, "LC_MESSAGES", "messages.po")
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def gettext_for(locale: str) -> Callable[[str], str]:
    return translations(locale).gettext


def ngettext_for(locale: str) -> Callable[[str, str, int], str]:
    return translations(locale).ngettext


@cache
def _full_date_pattern(locale: str) -> str:
    """The locale's full date pattern with the day unpadded: CLDR writes Indonesian days as
    "01 Desember", people (and our documents) write "1 Desember"."""
    return re.sub(r"(?<!d)dd(?!d)", "d", Locale.parse(locale).date_formats["full"].pattern)


def long_date(value: date, locale: str) -> str:
    """The one date style everywhere: 'Selasa, 1 Desember 2026' / 'Tuesday, December 1, 2026'."""
    return format_date(value, format=_full_date_pattern(locale), locale=locale)


INDONESIAN_ZONES = {7: "WIB", 8: "WITA", 9: "WIT"}
"""Indonesia's three zones by their UTC offset in hours: a time stored with its offset
(`+07:00`) reads as WIB, not "UTC+07:00"."""


def _zone_name(local: datetime) -> str | None:
    if local.tzinfo is None:
        return None
    name = local.tzname()
    offset = local.utcoffset()
    if name and name.startswith("UTC") and offset is not None and offset.total_seconds() % 3600 == 0:
        return INDONESIAN_ZONES.get(int(offset.total_seconds() // 3600), name)
    return name


def long_datetime(value: datetime, locale: str, zone: tzinfo | None = None) -> str:
    """The date as `long_date`, then the time of day in `zone` with the zone's name:
    'Selasa, 1 Desember 2026 pukul 16.06 WIB' ('Tuesday, December 1, 2026 at 4:06 PM WIB')."""
    local = value.astimezone(zone) if zone is not None and value.tzinfo is not None else value
    time = format_time(local, format="short", locale=locale)
    name = _zone_name(local)
    at = f"{time} {name}" if name and not name.startswith(("+", "-")) else time
    return gettext_for(locale)(N_("{date} at {time}")).format(date=long_date(local.date(), locale), time=at)
