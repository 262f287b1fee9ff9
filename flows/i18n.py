"""Translations from the Babel catalogs in `locales/`.

The `.po` files are compiled in memory the first time a locale is used, so there is no
build step to forget and no stale `.mo` file to ship.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date
from functools import cache
from importlib import resources

from babel.dates import format_date
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


def long_date(value: date, locale: str) -> str:
    """'Kamis, 19 November 2020' / 'Thursday, November 19, 2020'."""
    return format_date(value, format="full", locale=locale)
