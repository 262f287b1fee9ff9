"""Issue 16 end to end over Telegram (the real PTB Application and Bot against the fake
Bot API): "Berkas PDF" in a focal group, /berkas in a moderator's private chat, a failed
upload retried with the very same file, and three spellings of one official shown as
related on the cards."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest

from bot.config import Settings
from tests import fake_telegram as tg
from tests.backends import Backend
from tests.fake_telegram import FakeTelegram
from tests.telegram_harness import Reporter, polling_bot, quiet, settings_for, submit_report
from tests.test_case_file import everything_in, flat, text_of
from tests.test_focal_points import (
    ADMIN,
    GROUP,
    MODERATORS,
    OFFICER,
    OTHER_GROUP,
    PHOTOS,
    REPORTER,
    card_in,
    db_rows,
    press,
    register,
)

MODERATOR = 5555


@pytest.fixture
def settings(fake: FakeTelegram, backend: Backend) -> Settings:
    return settings_for(fake, backend, admin_telegram_ids=[ADMIN], moderator_chat_id=MODERATORS,
                        delivery_poll_seconds=0.05, delivery_backoff_seconds=0.1, telegram_timeout=1.0)
PREPARING = "Kasus {number}: berkas PDF sedang disiapkan dan akan dikirim ke sini."


def documents(fake: FakeTelegram, chat_id: int) -> list[dict[str, Any]]:
    return [c.params for c in fake.calls if c.method == "sendDocument" and c.result
            and str(c.params.get("chat_id")) == str(chat_id)]


def recorded_hashes(settings: Settings, number: str) -> list[str]:
    rows = db_rows(settings, "SELECT e.note FROM case_events e JOIN cases c ON c.id = e.case_id"
                             " WHERE c.number = ? AND e.kind = 'case_file' ORDER BY e.id", number)
    return [str(note).split()[1] for (note,) in rows]


async def test_berkas_pdf_in_a_focal_group_delivers_the_file_there_without_a_confidential_identity(
        fake: FakeTelegram, settings: Settings) -> None:
    r = Reporter(fake, REPORTER)
    async with polling_bot(settings):
        await register(fake, GROUP, "denpasar")
        number = await submit_report(r, PHOTOS[:2], identity="rahasia")
        card = await card_in(fake, GROUP)
        assert await press(fake, card, "case_file") == PREPARING.format(number=number)
        await fake.wait_for(lambda: len(documents(fake, GROUP)) == 1, timeout=30)
    sent = documents(fake, GROUP)[0]
    data = sent["document"]["data"]
    assert sent["document"]["filename"] == f"berkas-{number}.pdf" and data.startswith(b"%PDF")
    assert sent["reply_parameters"]["message_id"] == card["message_id"], "a reply to the case card"
    sha = hashlib.sha256(data).hexdigest()
    assert sent["caption"] == f"Berkas kasus {number} · SHA-256 {sha}"
    assert recorded_hashes(settings, number) == [sha], "generating is a case event with the file's hash"
    text = flat(text_of(data))
    assert f"Berkas Kasus {number}" in text and "Pelapor Rahasia (hanya diketahui moderator)" in text
    assert "Untuk Grup narahubung untuk Kota Denpasar" in text and "Diminta oleh User777 (telegram:777)" in text
    seen = everything_in(data)
    for leak in ("Siti", "Aminah", "6281234567890", "81234567890", str(REPORTER), "PhoneMaker"):
        assert leak not in seen, leak
    assert len(re.findall(r"\b[0-9a-f]{64}\b", text)) == 2, "both photos listed with their hashes"


async def test_berkas_in_a_moderators_private_chat_delivers_the_full_file(fake: FakeTelegram,
                                                                          settings: Settings) -> None:
    r = Reporter(fake, REPORTER)
    async with polling_bot(settings):
        await register(fake, GROUP, "denpasar")
        await register(fake, OTHER_GROUP, "kab badung")
        number = await submit_report(r, PHOTOS[:1], identity="rahasia")
        await card_in(fake, GROUP)
        fake.push(tg.text(ADMIN, f"/tambah_moderator {MODERATOR}"))
        await fake.wait_for(lambda: any(f"{MODERATOR} sekarang" in t for t in fake.texts(ADMIN)))  # not an announcement
        fake.push(tg.text(MODERATOR, f"/berkas {number}"))
        answer = await fake.wait_messages(MODERATOR, 1)
        assert answer[-1] == PREPARING.format(number=number)
        await fake.wait_for(lambda: len(documents(fake, MODERATOR)) == 1, timeout=30)
        before = len(fake.texts(OTHER_GROUP))
        fake.push(tg.group_text(OTHER_GROUP, f"/berkas {number}", OFFICER))
        refused = await fake.wait_messages(OTHER_GROUP, before + 1)
        assert refused[-1] == "Kasus ini tidak ditugaskan ke grup ini."
        fake.push(tg.text(REPORTER, f"/berkas {number}"))
        await fake.wait_for(lambda: "Maaf, perintah itu tidak tersedia untuk Anda." in fake.texts(REPORTER))
    text = flat(text_of(documents(fake, MODERATOR)[0]["document"]["data"]))
    assert "Pelapor Rahasia (Siti Aminah, +6281234567890)" in text
    assert f"Untuk Moderator User{MODERATOR}, obrolan pribadi" in text
    assert documents(fake, OTHER_GROUP) == [] and documents(fake, REPORTER) == []


async def test_a_failed_upload_is_retried_with_the_same_file_recorded_once(fake: FakeTelegram,
                                                                           settings: Settings) -> None:
    r = Reporter(fake, REPORTER)
    async with polling_bot(settings):
        await register(fake, GROUP, "denpasar")
        number = await submit_report(r, PHOTOS[:1], identity="anonim")
        card = await card_in(fake, GROUP)
        fake.fail("sendDocument", 500, "Internal Server Error", times=2)
        await press(fake, card, "case_file")
        await quiet(fake, lambda: len(documents(fake, GROUP)) == 1, timeout=30)  # and recorded as sent
    attempts = [c for c in fake.calls if c.method == "sendDocument"]
    assert len(attempts) == 3
    assert len({hashlib.sha256(c.params["document"]["data"]).hexdigest() for c in attempts}) == 1, \
        "every try sent the same bytes"
    assert recorded_hashes(settings, number) == [hashlib.sha256(documents(fake, GROUP)[0]["document"]["data"])
                                                 .hexdigest()]
    assert db_rows(settings, "SELECT data IS NULL FROM case_files") == [(1,)], "no copy kept once it is sent"


def latest_card(fake: FakeTelegram, chat_id: int, number: str) -> str:
    """The text of the group's message for a case as it stands now (the card, then its edits)."""
    shown = [c.params["text"] for c in fake.calls if c.result and c.method in ("sendMessage", "editMessageText")
             and str(c.params.get("chat_id")) == str(chat_id)
             and str(c.params.get("text", "")).startswith(f"<b>Laporan {number}</b>")]
    return shown[-1]


async def test_three_spellings_of_one_official_show_each_other_as_related(fake: FakeTelegram,
                                                                         settings: Settings) -> None:
    spellings = [("Drs. I Wayan Sudarta, M.Si.", "media_sosial", "01/11/2024"),
                 ("Wayan Sudharta", "fasilitas_negara", "08/11/2024"),
                 ("Sudarta, I Wayan", "mobilisasi", "15/11/2024")]
    numbers = []
    async with polling_bot(settings):
        await register(fake, GROUP, "denpasar")
        for n, (name, incident, day) in enumerate(spellings):
            reporter = Reporter(fake, REPORTER + n)
            numbers.append(await submit_report(reporter, [], person=name, incident=incident, occurred=day))
            await card_in(fake, GROUP, n + 1)

        def related_everywhere() -> bool:
            for number in numbers:
                others = [o for o in numbers if o != number]
                if f"<b>Laporan terkait:</b> {', '.join(sorted(others))}" not in latest_card(fake, GROUP, number):
                    return False
            return True

        await fake.wait_for(related_everywhere, timeout=30)
        fake.push(tg.group_text(GROUP, f"/lihat {numbers[0]}", OFFICER))
        await fake.wait_for(lambda: any(t.startswith(f"Laporan {numbers[0]}") for t in fake.texts(GROUP)))
    view = next(t for t in fake.texts(GROUP) if t.startswith(f"Laporan {numbers[0]}"))
    assert f"Laporan terkait: {numbers[1]} (nama terlapor mirip), {numbers[2]} (nama terlapor mirip)" in view \
        or f"Laporan terkait: {numbers[2]} (nama terlapor mirip), {numbers[1]} (nama terlapor mirip)" in view
