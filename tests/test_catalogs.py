"""The catalogs and the code agree, and every message has its Indonesian translation."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from flows.i18n import LOCALES, long_date, normalize_locale, translations

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"\{(\w*)\}")


def code_messages() -> set[str | tuple[str, ...]]:
    found: set[str | tuple[str, ...]] = set()
    for package in ("bot", "flows", "storage"):
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / package, method_map=[("**.py", "python")], keywords=DEFAULT_KEYWORDS
        ):
            found.add(message if isinstance(message, str) else tuple(message))
    return found


def catalog(locale: str):  # type: ignore[no-untyped-def]
    with (ROOT / "locales" / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=locale)


@pytest.mark.parametrize("locale", LOCALES)
def test_catalog_holds_exactly_the_messages_of_the_code(locale: str) -> None:
    in_code = code_messages()
    in_catalog = {m.id if isinstance(m.id, str) else tuple(m.id) for m in catalog(locale) if m.id}
    assert in_code - in_catalog == set(), "messages missing from the catalog (run pybabel update)"
    assert in_catalog - in_code == set(), "catalog messages no longer in the code"


def test_every_message_has_an_indonesian_translation_with_the_same_placeholders() -> None:
    for message in catalog("id"):
        if not message.id:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        assert all(strings), f"untranslated: {ids[0]!r}"
        assert not message.fuzzy, f"fuzzy: {ids[0]!r}"
        wanted = set(PLACEHOLDER.findall(ids[-1]))
        for text in strings:
            assert set(PLACEHOLDER.findall(text)) == wanted, f"placeholders differ: {ids[0]!r}"


def test_no_indonesian_text_in_python_outside_the_catalogs() -> None:
    words = re.compile(r"[\"'][^\"'\n]*\b(Silakan|Terima kasih|Laporan Anda|Mohon|Maaf|Setuju|Kirim|Batal)\b")
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for package in ("bot", "flows", "storage")
        for path in (ROOT / package).rglob("*.py")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if words.search(line)
    ]
    assert offenders == []


def test_translations_load_from_the_po_files() -> None:
    assert translations("id").gettext("Skip") == "Lewati"
    assert translations("en").gettext("Skip") == "Skip"


def test_dates_are_formatted_in_the_reporters_locale() -> None:
    assert long_date(date(2020, 11, 19), "id") == "Kamis, 19 November 2020"
    assert long_date(date(2020, 11, 19), "en") == "Thursday, November 19, 2020"


@pytest.mark.parametrize("tag, expected", [("id", "id"), ("id-ID", "id"), ("en-US", "en"),
                                           ("de", "en"), (None, "id"), ("", "id")])
def test_client_language_tags(tag: str | None, expected: str) -> None:
    assert normalize_locale(tag) == expected
