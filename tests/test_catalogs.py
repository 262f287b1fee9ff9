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
    assert long_date(date(2026, 12, 1), "id") == "Selasa, 1 Desember 2026", "no zero padding"


@pytest.mark.parametrize("tag, expected", [("id", "id"), ("id-ID", "id"), ("en-US", "en"),
                                           ("de", "en"), (None, "id"), ("", "id")])
def test_client_language_tags(tag: str | None, expected: str) -> None:
    assert normalize_locale(tag) == expected


# --- dynamic values rendered in Indonesian ---------------------------------------------

ENGLISH = frozenset("""
the and of to for with on at is are was be by or not from your you we our this that it its
given refused withdrawn consent waiting route console local channel address language first contact
new forwarded accepted done rejected being followed within their authority report reports case
anonymous confidential open identity removed request retention period
yes no skip unknown none press button buttons reply number option options
village head staff office agency central government other member council school hospital
state company university ministry tax customs statistics immigration prison land service
english indonesian employment name position type
""".split())
"""Words that are English and not also Indonesian ("status", "file", "regional" are both)."""


def english_left(text: str) -> set[str]:
    return {word for word in re.findall(r"[a-z]+", text.lower()) if word in ENGLISH}


def test_menu_labels_and_statuses_have_no_english_in_indonesian() -> None:
    from flows import menus
    from flows.case.case_text import status_label
    from flows.reporter.summary import status_label as person_status_label

    _ = translations("id").gettext
    items = [*menus.INCIDENT_TYPES, *menus.PERSON_STATUSES, menus.NOT_ASN, *menus.IDENTITY_MODES,
             *menus.CASE_STATUSES]
    for group in menus.AGENCY_GROUPS:
        items += [*group.units, *group.positions]
    shown = [_(g.label) for g in menus.AGENCY_GROUPS]
    shown += [_(i.label) for i in items] + [_(i.explanation) for i in items if i.explanation]
    shown += [_(i.summary) for i in items if i.summary]
    shown += [status_label(_, s.id) for s in menus.CASE_STATUSES]
    shown += [person_status_label(_, s) for s in ("pns", "pppk", "honorer", "tidak_tahu", "bukan_asn")]
    for text in shown:
        assert english_left(text) == set(), text


async def test_my_data_has_no_english_in_indonesian_on_any_channel(tmp_path: Path) -> None:
    """/data_saya shows dynamic values (the channel, the language, consent decisions, case
    statuses, dates): each must reach the reporter translated."""
    from flows.engine import Engine
    from flows.menus import CASE_STATUSES
    from flows.policy import Policy
    from storage import Database
    from tests.chat import HAPPY_PATH, Chat

    db = await Database.open(tmp_path / "dyn.db")
    try:
        engine = Engine(db, policy=Policy(max_cases_per_day=0))
        for channel in ("console", "whatsapp", "telegram"):
            chat = Chat(engine, channel=channel, address=f"reporter-{len(channel)}")
            for _status in CASE_STATUSES:
                await chat.run(*HAPPY_PATH, "@send", "@new" if _status != CASE_STATUSES[-1] else "/status")
            async with db.transaction() as tx:
                ids = [row[0] for row in await tx.execute_fetchall(
                    "SELECT id FROM cases WHERE channel = ? ORDER BY id", (channel,))]
                for case_id, status in zip(ids, CASE_STATUSES, strict=True):
                    await tx.execute("UPDATE cases SET status = ? WHERE id = ?", (status.id, case_id))
            await chat.send("/data_saya")
            text = chat.text()
            assert "Persetujuan diberikan" in text and text.count("Laporan LN-") == len(CASE_STATUSES)
            assert english_left(text) == set(), (channel, english_left(text), text)
            await chat.send("/status")
            assert english_left(chat.text()) == set(), chat.text()
    finally:
        await db.close()
