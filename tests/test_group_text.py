"""What a focal-point group reads of a reporter's text, through the real PTB stack and the
fake Bot API, which finds commands, mentions, hashtags and cashtags as Telegram does and
refuses a text over Telegram's limit counted in UTF-16 code units:

- reporter text acts nowhere in a group: not in the card, `/lihat`, `/jejak`, nor a relayed
  answer (an officer who taps a command in it runs it in the group; a mention notifies);
- a case too long for one message still reaches the group, and its card says where the rest is.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import Settings
from flows.inert import WORD_JOINER, inert
from tests import fake_telegram as tg
from tests.backends import Backend
from tests.fake_telegram import MAX_TEXT_UNITS, FakeTelegram
from tests.telegram_entities import auto_entities, utf16_units, visible_text
from tests.telegram_harness import Reporter, polling_bot, settings_for
from tests.test_focal_points import ADMIN, GROUP, OFFICER, REPORTER, card_in, prompt_after, register

PLANTED = ("/hapus_fokus", "/start@lapor_netral_bot", "@target_user", "#paslon2", "$USD", "#カメラ", "(/daftar_fokus")


@pytest.fixture
def settings_(fake: FakeTelegram, backend: Backend) -> Settings:
    return settings_for(fake, backend, admin_telegram_ids=[ADMIN], delivery_poll_seconds=0.05,
                        delivery_backoff_seconds=0.1, telegram_timeout=1.0)


async def file_report(r: Reporter, *, agency: str = "SMPN 1 Denpasar", person: str = "Budi Santoso",
                      place: str = "Ruang guru", description: str = "Kepala sekolah mengajak memilih paslon 2 di grup.",
                      witnesses: str | None = None) -> str:
    await r.say("/start", at_least=2)
    await r.press("agree")
    await r.say("denpasar")
    await r.press("pemda")
    await r.press("sekolah")
    await r.say(agency)
    await r.say(person)
    await r.press("skip")
    await r.press("pns")
    await r.press("media_sosial")
    await r.say("19/11/2024")
    await r.press("same")
    await r.say(place)
    await r.send(tg.location(r.chat_id, -8.65, 115.21))
    await r.say(description)
    if witnesses is None:
        await r.press("skip")
    else:
        await r.say(witnesses)
    await r.press("done")
    await r.press("none")
    await r.press("terbuka")
    await r.say("@siti_pelapor")
    await r.send(tg.contact(r.chat_id, "+6281234567890"))
    done = await r.press("send")
    return next(word for word in done[0].split() if word.startswith("LN-")).rstrip(".")


def planted_tappable(fake: FakeTelegram) -> list[dict[str, object]]:
    return [e for e in fake.tappable(GROUP)
            if any(str(e["text"]).lstrip("(") in sign or sign.lstrip("(").startswith(str(e["text"])) for sign in PLANTED)
            or e["text"] == "@siti_pelapor"]


async def test_reporter_text_is_inert_in_the_card_lihat_jejak_and_relayed_answers(
        fake: FakeTelegram, settings_: Settings) -> None:
    r = Reporter(fake, REPORTER)
    async with polling_bot(settings_):
        await register(fake, GROUP, "denpasar")
        number = await file_report(
            r, agency="Dinas @target_user", person="Budi /hapus_fokus", place="Aula #paslon2",
            description="Ketik /hapus_fokus atau /start@lapor_netral_bot, hubungi @target_user, "
                        "lihat #paslon2 #カメラ, bayar $USD (/daftar_fokus 51). Bukti: https://www.tiktok.com/@akun.asn/video/7312",
            witnesses="@target_user dan #paslon2")
        card = await card_in(fake, GROUP)
        shown = visible_text(card["text"], "HTML")
        assert "https://www.tiktok.com/@akun.asn/video/7312" in shown, "a link stays whole"
        for word in ("hapus_fokus", "target_user", "paslon2", "USD", "siti_pelapor"):
            assert word in shown, "the words are all still there"
        fake.push(tg.group_text(GROUP, f"/lihat {number}", OFFICER))
        await fake.wait_for(lambda: any(t.startswith(f"Laporan {number}") for t in fake.texts(GROUP)))
        prompt = await prompt_after(fake, GROUP, "ask", card)
        fake.push(tg.group_text(GROUP, "Kapan?", OFFICER, reply_to=prompt))
        await fake.wait_for(lambda: len(fake.texts(REPORTER)) > 0 and "bertanya" in fake.texts(REPORTER)[-1])
        before = len(fake.texts(GROUP))
        await r.say("Tadi pagi, tanya @target_user atau ketik /hapus_fokus #paslon2")
        relayed = (await fake.wait_messages(GROUP, before + 1))[-1]
        assert "target_user" in relayed
        fake.push(tg.group_text(GROUP, f"/jejak {number}", OFFICER))
        await fake.wait_for(lambda: any(t.startswith(f"Jejak audit {number}") for t in fake.texts(GROUP)))
    assert planted_tappable(fake) == [], planted_tappable(fake)


@pytest.mark.parametrize("text", ["カhttps://x.co/#a", "kata@https://x.co/@akun"])
def test_a_link_glued_to_a_word_is_no_link_and_its_signs_are_made_inert(text: str) -> None:
    """Found by the property below: Telegram links no address glued to a letter before it,
    so the "#a" in it was a hashtag while `inert` took it for part of a link."""
    assert auto_entities(inert(text)) == []


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list("/@#$_aZ1 .:é-()\n") + ["https://x.co/", "\u200c", "カ", "1INCH", "ා"]),
                max_size=30).map("".join))
def test_inert_text_has_nothing_telegram_would_make_act(text: str) -> None:
    neutral = inert(text)
    assert auto_entities(neutral) == [], (text, neutral)
    assert neutral.replace(WORD_JOINER, "") == text, "only word joiners are added"


def test_inert_leaves_ordinary_text_emails_and_links_alone() -> None:
    for text in ("Kepala sekolah 2/3 guru", "budi@example.com", "https://www.tiktok.com/@akun/video/1?x=2#t",
                 "harga 50$ saja", "dan/atau"):
        assert inert(text) == text


async def test_a_case_too_long_for_one_message_still_reaches_the_group(fake: FakeTelegram, settings_: Settings) -> None:
    """2,000 emoji are 2,000 characters but 4,000 UTF-16 code units: the card was 4,488
    units, Telegram refused it, and the group never got the case."""
    description = "Ajakan memilih paslon 2: " + "🗳" * 2000 + " AKHIR-DESKRIPSI"
    r = Reporter(fake, REPORTER)
    async with polling_bot(settings_):
        await register(fake, GROUP, "denpasar")
        number = await file_report(r, description=description, witnesses="👀" * 900, place="📍" * 290)
        card = await card_in(fake, GROUP)
        fake.push(tg.group_text(GROUP, f"/lihat {number}", OFFICER))
        await fake.wait_for(lambda: any("AKHIR-DESKRIPSI" in t for t in fake.texts(GROUP)), timeout=15)
    shown = visible_text(card["text"], "HTML")
    assert 4000 < utf16_units(shown) <= MAX_TEXT_UNITS
    assert f"/lihat {number}" in shown and "Berkas PDF" in shown, "the card says where the text continues"
    assert "AKHIR-DESKRIPSI" not in shown
    for call in fake.calls:
        if call.method in ("sendMessage", "editMessageText") and str(call.params.get("chat_id")) == str(GROUP):
            assert utf16_units(visible_text(call.params["text"], call.params.get("parse_mode"))) <= MAX_TEXT_UNITS
    refused = [c for c in fake.calls if c.method in ("sendMessage", "editMessageText") and c.result is None]
    assert refused == [], "Telegram refused nothing"


def test_the_fake_refuses_what_telegram_refuses() -> None:
    from tests.fake_telegram import _too_long

    assert _too_long("sendMessage", {"text": "🗳" * 2049}) == "Bad Request: message is too long"
    assert _too_long("sendMessage", {"text": "a" * 4096}) is None
    assert _too_long("sendMessage", {"text": "<b>" + "a" * 4096 + "</b>", "parse_mode": "HTML"}) is None
    assert _too_long("sendPhoto", {"caption": "é" * 1025}) == "Bad Request: message caption is too long"
