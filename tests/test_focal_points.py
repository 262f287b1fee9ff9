"""Issue 4 end to end: routes, the case in the focal-point group, the buttons, the
reporter's notifications, Minta info, and delivery through failures. The real PTB
Application and Bot talk HTTP to the fake Bot API; assertions are on what it received
and on the SQLite file."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from bot.config import Settings
from tests import fake_telegram as tg
from tests.backends import Backend, inspect_db
from tests.fake_telegram import FakeTelegram
from tests.telegram_harness import Reporter, polling_bot, quiet, settings_for, submit_report

ADMIN = 4242
OFFICER = 777
GROUP = -1001000000001
OTHER_GROUP = -1001000000002
MODERATORS = -1001000000999
REPORTER = 730111222  # distinctive, so that a leak of the reporter's id is found by search


def jpeg_with_gps(shade: int) -> bytes:
    image = Image.new("RGB", (64, 48), (shade, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {1: "S", 2: (8.0, 39.0, 0.0), 3: "E", 4: (115.0, 12.0, 36.0)}  # GPSInfo
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


PHOTOS = [jpeg_with_gps(n * 40) for n in range(3)]


@pytest.fixture
def settings(fake: FakeTelegram, backend: Backend) -> Settings:
    return settings_for(fake, backend, admin_telegram_ids=[ADMIN], moderator_chat_id=MODERATORS,
                        delivery_poll_seconds=0.05, delivery_backoff_seconds=0.1, telegram_timeout=1.0)


def db_rows(settings: Settings, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with inspect_db(settings) as db:
        return db.execute(sql, params).fetchall()


async def register(fake: FakeTelegram, chat_id: int, region: str, user_id: int = ADMIN) -> str:
    before = len(fake.texts(chat_id))
    fake.push(tg.group_text(chat_id, f"/daftar_fokus {region}", user_id))
    return (await fake.wait_messages(chat_id, before + 1))[-1]


def cards(fake: FakeTelegram, chat_id: int) -> list[dict[str, Any]]:
    """Case cards the group really received (failed attempts excluded)."""
    return [c.params for c in fake.calls if c.method == "sendMessage" and c.result
            and str(c.params.get("chat_id")) == str(chat_id) and str(c.params.get("text", "")).startswith("<b>Laporan")]


async def card_in(fake: FakeTelegram, chat_id: int, count: int = 1) -> dict[str, Any]:
    """The group's latest case card once it has `count`, and the bot has done what posting it
    set off (its message id recorded, the evidence after it, the reporter's news)."""
    await quiet(fake, lambda: len(cards(fake, chat_id)) >= count)
    call = next(c for c in reversed(fake.calls) if c.method == "sendMessage" and c.result
                and str(c.params.get("chat_id")) == str(chat_id) and str(c.params.get("text", "")).startswith("<b>Laporan"))
    return call.result  # the message as the group has it (with its buttons)


async def press(fake: FakeTelegram, card: dict[str, Any], action: str, user_id: int = OFFICER) -> str | None:
    data = next(b["callback_data"] for row in card["reply_markup"]["inline_keyboard"] for b in row
                if b["callback_data"].endswith(f":{action}"))
    before = len(fake.sent("answerCallbackQuery"))
    fake.push(tg.group_press(card["chat"]["id"], data, card, user_id))
    await fake.wait_for(lambda: len(fake.sent("answerCallbackQuery")) > before)
    return fake.sent("answerCallbackQuery")[-1].get("text")


async def prompt_after(fake: FakeTelegram, chat_id: int, action: str, card: dict[str, Any]) -> dict[str, Any]:
    """Press `action` and return the bot's reply-to-me prompt (as the group has it)."""
    def prompts() -> list[Any]:
        return [c for c in fake.calls if c.method == "sendMessage" and c.result
                and str(c.params["chat_id"]) == str(chat_id) and "force_reply" in str(c.params.get("reply_markup"))]
    before = len(prompts())
    await press(fake, card, action)
    await fake.wait_for(lambda: len(prompts()) > before)
    return prompts()[-1].result


def last_edit(fake: FakeTelegram, chat_id: int) -> dict[str, Any]:
    return fake.sent("editMessageText", chat_id)[-1]


async def test_registering_a_group_needs_an_admin_and_confirms_the_full_name(fake: FakeTelegram, settings: Settings) -> None:
    async with polling_bot(settings):
        refused = await register(fake, GROUP, "51.71", user_id=OFFICER)
        assert refused == "Maaf, perintah itu tidak tersedia untuk Anda."
        assert await register(fake, GROUP, "kota denpasar") == "Grup ini sekarang menerima laporan untuk Kota Denpasar (51.71)."
        assert "Beberapa wilayah cocok" not in await register(fake, GROUP, "51 pusat")
        ambiguous = await register(fake, GROUP, "bandung")
        assert ambiguous.startswith("Wilayah mana yang dimaksud?") and "(32.04)" in ambiguous
        before = len(fake.texts(GROUP))
        fake.push(tg.group_text(GROUP, "/rute", ADMIN))
        listing = (await fake.wait_messages(GROUP, before + 1))[-1]
        assert "Kota Denpasar (51.71)" in listing and "Bali (51) · Instansi pusat/vertikal" in listing
        fake.push(tg.group_text(GROUP, "/hapus_fokus 51", ADMIN))
        removed = (await fake.wait_messages(GROUP, before + 2))[-1]
        assert removed.startswith("Grup ini tidak lagi menerima laporan untuk:") and "Bali (51)" in removed
    assert db_rows(settings, "SELECT region_code, agency_scope, chat_id, status FROM routes") == [
        ("51.71", "", GROUP, "active")]


async def test_a_case_reaches_its_group_with_clean_evidence_and_the_reporter_hears_of_it(
        fake: FakeTelegram, settings: Settings) -> None:
    r = Reporter(fake, REPORTER)
    async with polling_bot(settings):
        await register(fake, OTHER_GROUP, "bali")  # the province: used only when the city has nobody
        await register(fake, GROUP, "denpasar")
        number = await submit_report(r, PHOTOS, identity="anonim")
        card = await card_in(fake, GROUP)
        await fake.wait_for(lambda: len(fake.sent("sendMediaGroup", GROUP)) == 1)
        forwarded = await fake.wait_messages(REPORTER, len(fake.texts(REPORTER)))
    params = cards(fake, GROUP)[0]
    text = params["text"]
    assert params["parse_mode"] == "HTML"
    assert f"<b>Laporan {number}</b>" in text and "Status: <b>Baru</b>" in text
    assert "Kota Denpasar, Bali" in text and "Kampanye di media sosial" in text
    assert "Ruang guru &lt;b&gt;SMPN 1&lt;/b&gt; &amp; kantin" in text, "user text is escaped"
    assert "&lt;script&gt;" in text and "<script>" not in text
    assert "<b>Pelapor:</b> Anonim" in text and "<b>Bukti:</b> 3 file" in text
    labels = [b["text"] for row in card["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["Terima", "Bukan kewenangan", "Tolak", "Minta info", "Berkas PDF"]
    assert cards(fake, OTHER_GROUP) == [], "the province's group is only a fallback"
    album = fake.sent("sendMediaGroup", GROUP)[0]
    assert len(album["media"]) == 3 and album["reply_parameters"]["message_id"] == card["message_id"]
    uploads = [v for v in album.values() if isinstance(v, dict) and "data" in v]
    assert len(uploads) == 3
    for upload in uploads:
        image = Image.open(io.BytesIO(upload["data"]))
        assert image.format == "JPEG" and image.size == (64, 48)
        assert not image.getexif(), "EXIF (with its GPS position) is removed before upload"
        assert b"PhoneMaker" not in upload["data"]
    assert any(f"Laporan Anda {number} telah diteruskan ke petugas pengawas untuk Kota Denpasar." in t
               for t in forwarded)
    edited = last_edit(fake, GROUP)
    assert "Status: <b>Diteruskan</b>" in edited["text"]
    assert db_rows(settings, "SELECT status FROM cases") == [("diteruskan",)]
    assert db_rows(settings, "SELECT count(*) FROM outbox WHERE status != 'sent'") == [(0,)]


async def test_each_button_notifies_the_reporter_and_edits_the_group_message(fake: FakeTelegram, settings: Settings) -> None:
    r = Reporter(fake, REPORTER, language="en")
    async with polling_bot(settings):
        await register(fake, GROUP, "denpasar")
        number = await submit_report(r, PHOTOS[:1])
        card = await card_in(fake, GROUP)
        steps = [
            ("accept", "Diterima", f"Good news: the officers have accepted your report {number}"),
            ("follow_up", "Ditindaklanjuti", f"Your report {number} is being followed up"),
            ("finish", "Selesai", f"The officers have finished handling your report {number}"),
        ]
        for action, shown, told in steps:
            before = len(fake.texts(REPORTER))
            assert await press(fake, card, action) == f"Kasus {number} diperbarui."
            texts = await fake.wait_messages(REPORTER, before + 1)
            assert any(told in t for t in texts[before:])
            await fake.wait_for(lambda shown=shown: any(f"Status: <b>{shown}</b>" in e["text"]
                                                        for e in fake.sent("editMessageText", GROUP)[-1:]))
            edit = last_edit(fake, GROUP)
            assert "tindakan terakhir oleh User777" in edit["text"]
            card = {**card, "reply_markup": edit.get("reply_markup") or {"inline_keyboard": []}}
        closed = last_edit(fake, GROUP).get("reply_markup") or {"inline_keyboard": []}
        assert [b["text"] for row in closed["inline_keyboard"] for b in row] == ["Berkas PDF"], \
            "a closed case keeps only its case file"
        notification = fake.sent("sendMessage", REPORTER)[-1]
        status_button = notification["reply_markup"]["inline_keyboard"][0][0]
        assert status_button["text"] == "Check status"
        before = len(fake.texts(REPORTER))
        fake.push(tg.press(REPORTER, status_button["callback_data"], 1, notification["text"]))
        status = await fake.wait_messages(REPORTER, before + 1)
        assert status[-1].startswith(f"{number}: Done (since")
    events = db_rows(settings, "SELECT actor, kind, before, after, actor_name FROM case_events ORDER BY id")
    assert events[-3:] == [
        (f"telegram:{OFFICER}", "status", "diteruskan", "diterima", "User777"),
        (f"telegram:{OFFICER}", "status", "diterima", "ditindaklanjuti", "User777"),
        (f"telegram:{OFFICER}", "status", "ditindaklanjuti", "selesai", "User777"),
    ]


async def test_a_stranger_group_cannot_act_and_a_closed_action_is_refused(fake: FakeTelegram, settings: Settings) -> None:
    r = Reporter(fake, REPORTER)
    async with polling_bot(settings):
        await register(fake, GROUP, "denpasar")
        await submit_report(r, PHOTOS[:1])
        card = await card_in(fake, GROUP)
        forged = {**card, "chat": {"id": OTHER_GROUP, "type": "supergroup", "title": "Lain"}}
        assert await press(fake, forged, "accept") == "Kasus ini tidak ditugaskan ke grup ini."
        assert await press(fake, card, "accept") is not None
        assert await press(fake, card, "accept") == (
            "Tidak bisa pada status kasus saat ini (mungkin sudah ada yang menindaklanjuti).")
    assert db_rows(settings, "SELECT count(*) FROM case_events WHERE after = 'diterima'") == [(1,)]


async def test_minta_info_relays_both_ways_without_identities(fake: FakeTelegram, settings: Settings) -> None:
    r = Reporter(fake, REPORTER)
    async with polling_bot(settings):
        await register(fake, GROUP, "denpasar")
        number = await submit_report(r, PHOTOS[:1])
        card = await card_in(fake, GROUP)
        prompt = await prompt_after(fake, GROUP, "ask", card)
        assert fake.sent("answerCallbackQuery")[-1]["text"] == "Balas pesan bot di bawah."
        assert prompt["text"].startswith(f"Kasus {number}: balas pesan ini dengan pertanyaan")
        before = len(fake.texts(REPORTER))
        fake.push(tg.group_text(GROUP, "Jam berapa unggahan itu dibuat?", OFFICER, reply_to=prompt))
        question = (await fake.wait_messages(REPORTER, before + 1))[-1]
        assert question.startswith(f"Petugas yang menangani laporan Anda {number} bertanya:")
        assert "Jam berapa unggahan itu dibuat?" in question and "User777" not in question
        assert "Kasus " in (await fake.wait_messages(GROUP, len(fake.texts(GROUP))))[-1]
        group_before = len(fake.texts(GROUP))
        reply = await r.say("Sekitar pukul 20.00, saya punya tangkapan layarnya.")
        assert reply[-1] == "Sudah diteruskan ke petugas. Kirim lagi, atau tekan Selesai."
        relayed = await fake.wait_messages(GROUP, group_before + 1)
        assert relayed[-1] == f"Kasus {number}: jawaban pelapor:\n\nSekitar pukul 20.00, saya punya tangkapan layarnya."
        assert fake.sent("sendMessage", GROUP)[-1]["reply_parameters"]["message_id"] == card["message_id"]
        await r.send(tg.photo(fake, REPORTER, "extra-shot", PHOTOS[2]))
        await fake.wait_for(lambda: len(fake.sent("sendPhoto", GROUP)) == 2)  # the card's, then the answer's
        back = await r.press("done")
        assert back[0] == "» Selesai\n\nTerima kasih. Anda bisa melanjutkan dari langkah terakhir."
        assert f"Laporan {number} sudah kami terima" in back[-1], "back to where the reporter was"
    assert db_rows(settings, "SELECT count(*) FROM evidence") == [(2,)]
    kinds = [k for (k,) in db_rows(settings, "SELECT kind FROM case_events ORDER BY id")]
    assert kinds.count("info_request") == 1 and kinds.count("info_answer") == 2
    for call in fake.calls:  # the reporter's Telegram identity never reaches the group
        if str(call.params.get("chat_id", "")).startswith("-"):
            blob = repr(call.params)
            assert str(REPORTER) not in blob and f"user{REPORTER}" not in blob and f"User{REPORTER}" not in blob


async def test_not_our_authority_forwards_to_the_named_region_and_reject_needs_a_reason(
        fake: FakeTelegram, settings: Settings) -> None:
    r = Reporter(fake, REPORTER)
    async with polling_bot(settings):
        await register(fake, GROUP, "denpasar")
        await register(fake, OTHER_GROUP, "kab badung")
        number = await submit_report(r, PHOTOS[:1])
        card = await card_in(fake, GROUP)
        prompt = await prompt_after(fake, GROUP, "not_ours", card)
        fake.push(tg.group_text(GROUP, "kabupaten entah", OFFICER, reply_to=prompt))
        await fake.wait_for(lambda: any(t.startswith("Wilayah itu tidak dikenal") for t in fake.texts(GROUP)))
        fake.push(tg.group_text(GROUP, "51.03", OFFICER, reply_to=prompt))
        moved = await card_in(fake, OTHER_GROUP)
        assert f"<b>Laporan {number}</b>" in moved["text"]
        await fake.wait_for(lambda: "diserahkan ke kantor lain" in last_edit(fake, GROUP)["text"])
        assert not last_edit(fake, GROUP).get("reply_markup"), "the old group has no buttons left"
        assert "Kepala sekolah" not in last_edit(fake, GROUP)["text"], "and no details of the case"
        await fake.wait_for(lambda: any("bukan kewenangan mereka" in t for t in fake.texts(REPORTER)))
        prompt = await prompt_after(fake, OTHER_GROUP, "reject", moved)
        fake.push(tg.group_text(OTHER_GROUP, "Bukan ASN, terlapor adalah kepala desa.", OFFICER, reply_to=prompt))
        await fake.wait_for(lambda: any("Alasan: Bukan ASN, terlapor adalah kepala desa." in t
                                        for t in fake.texts(REPORTER)))
    assert db_rows(settings, "SELECT status FROM cases") == [("ditolak",)]
    trail = db_rows(settings, "SELECT kind, before, after, note FROM case_events WHERE kind != 'created' ORDER BY id")
    assert ("reroute", "51.71", "51.03", None) in trail
    assert trail[-1] == ("status", "diteruskan", "ditolak", "Bukan ASN, terlapor adalah kepala desa.")


async def test_no_route_waits_and_alerts_then_registering_forwards_it(fake: FakeTelegram, settings: Settings) -> None:
    r = Reporter(fake, REPORTER)
    async with polling_bot(settings):
        number = await submit_report(r, PHOTOS[:1])
        alert = (await fake.wait_messages(MODERATORS, 1))[0]
        assert alert.startswith(f"Kasus {number} belum punya narahubung")
        assert any("menunggu petugas ditetapkan" in t for t in fake.shown(REPORTER)), "the receipt says it waits"
        assert not any("masih mencari petugas" in t for t in fake.shown(REPORTER)), "and nothing contradicts it"
        await register(fake, GROUP, "bali")
        await fake.wait_for(lambda: any(f"Kasus yang menunggu sudah diantrekan dan segera dikirim ke grup ini: {number}" in t
                                        for t in fake.texts(GROUP)))
        await card_in(fake, GROUP)
        await fake.wait_for(lambda: any("telah diteruskan" in t for t in fake.texts(REPORTER)))
    assert db_rows(settings, "SELECT status FROM cases") == [("diteruskan",)]


async def test_delivery_survives_429_500_and_timeouts_with_exactly_one_card(fake: FakeTelegram, settings: Settings) -> None:
    r = Reporter(fake, REPORTER)
    async with polling_bot(settings):
        await register(fake, GROUP, "denpasar")
        fake.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1, chat_id=GROUP)
        fake.fail("sendMessage", 500, "Internal Server Error", times=2, chat_id=GROUP)
        fake.fail("sendMessage", 502, "Bad Gateway", delay=1.5, chat_id=GROUP)  # longer than the client waits
        fake.fail("sendMediaGroup", 500, "Internal Server Error", chat_id=GROUP)
        await submit_report(r, PHOTOS)
        await card_in(fake, GROUP)
        await fake.wait_for(lambda: any(c.method == "sendMediaGroup" and c.result for c in fake.calls), timeout=20)
        # the card's status edit and the reporter's news follow the album: wait for them too
        await fake.wait_for(lambda: db_rows(settings, "SELECT count(*) FROM outbox WHERE status = 'pending'")
                            == [(0,)], timeout=30)
    attempts = [c for c in fake.calls if c.method == "sendMessage" and str(c.params["chat_id"]) == str(GROUP)
                and str(c.params.get("text", "")).startswith("<b>Laporan")]
    assert len(attempts) >= 5, "the failures were really met"
    assert len([c for c in attempts if c.result]) == 1, "exactly one card reached the group"
    assert len([c for c in fake.calls if c.method == "sendMediaGroup" and c.result]) == 1
    # the card with its album, the card's status edit, and every message to the reporter: all sent
    assert db_rows(settings, "SELECT DISTINCT status FROM outbox") == [("sent",)]
    assert db_rows(settings, "SELECT kind, count(*) FROM outbox WHERE address = ? GROUP BY kind ORDER BY kind",
                   str(GROUP)) == [("edit_case", 1), ("post_case", 1), ("send", 1)], "and the answer to /daftar_fokus"


async def test_a_kicked_bot_marks_the_route_broken_alerts_and_falls_back(fake: FakeTelegram, settings: Settings) -> None:
    r = Reporter(fake, REPORTER)
    async with polling_bot(settings):
        await register(fake, OTHER_GROUP, "bali")
        await register(fake, GROUP, "denpasar")
        fake.fail("sendMessage", 403, "Forbidden: bot was kicked from the supergroup chat", chat_id=GROUP)
        number = await submit_report(r, PHOTOS[:1])
        alert = (await fake.wait_messages(MODERATORS, 1))[0]
        assert alert.startswith("Bot tidak bisa lagi mengirim ke grup Kota Denpasar"), alert
        assert str(GROUP) not in alert, "the moderators' group is a group: no other group's chat id"
        fallback = await card_in(fake, OTHER_GROUP)
        assert f"<b>Laporan {number}</b>" in fallback["text"]
    assert db_rows(settings, "SELECT region_code, status FROM routes ORDER BY region_code") == [
        ("51", "active"), ("51.71", "broken")]


async def test_a_migrated_group_is_followed(fake: FakeTelegram, settings: Settings) -> None:
    r = Reporter(fake, REPORTER)
    new_id = -1009999999999
    async with polling_bot(settings):
        await register(fake, GROUP, "denpasar")
        fake.fail("sendMessage", 400, "Bad Request: group chat was upgraded to a supergroup chat",
                  chat_id=GROUP, migrate_to=new_id)
        await submit_report(r, PHOTOS[:1])
        await card_in(fake, new_id)
    assert db_rows(settings, "SELECT chat_id, status FROM routes") == [(new_id, "active")]


async def test_deliveries_pending_at_a_crash_go_out_after_restart(fake: FakeTelegram, settings: Settings) -> None:
    r = Reporter(fake, REPORTER)
    async with polling_bot(settings):
        await register(fake, GROUP, "denpasar")
        fake.fail("sendMessage", 500, "Internal Server Error", times=1000, chat_id=GROUP)
        number = await submit_report(r, PHOTOS[:2])
        await fake.wait_for(lambda: len(fake.sent("sendMessage", GROUP)) > 2)
    assert db_rows(settings, "SELECT count(*) FROM outbox WHERE status = 'pending'") == [(1,)]
    fake.failures.clear()
    async with polling_bot(settings):  # a new application on the same database
        card = await card_in(fake, GROUP)
        await fake.wait_for(lambda: len([c for c in fake.calls if c.method == "sendMediaGroup" and c.result]) == 1)
    assert f"<b>Laporan {number}</b>" in card["text"]
    assert len([c for c in fake.calls if c.method == "sendMessage" and c.result
                and str(c.params["chat_id"]) == str(GROUP) and "<b>Laporan" in c.params["text"]]) == 1


async def test_an_open_reporter_is_named_and_a_confidential_one_is_not(fake: FakeTelegram, settings: Settings) -> None:
    async with polling_bot(settings):
        await register(fake, GROUP, "denpasar")
        await submit_report(Reporter(fake, REPORTER), PHOTOS[:1], identity="terbuka")
        await submit_report(Reporter(fake, REPORTER + 1), PHOTOS[:1], identity="rahasia")
        await card_in(fake, GROUP, 2)
    open_card, confidential = (c["text"] for c in cards(fake, GROUP))
    assert "<b>Pelapor:</b> Terbuka (Siti Aminah, +6281234567890)" in open_card
    assert "<b>Pelapor:</b> Rahasia (hanya diketahui moderator)" in confidential
    assert "Siti" not in confidential and "+62812" not in confidential


async def test_a_crash_between_sending_and_recording_repeats_the_card_at_most_once(
        fake: FakeTelegram, settings: Settings) -> None:
    settings = settings.model_copy(update={"delivery_lease_seconds": 0.5})
    r = Reporter(fake, REPORTER)
    async with polling_bot(settings):
        await register(fake, GROUP, "denpasar")
        fake.hold("sendMessage", GROUP, 3)  # the card is posted, but the bot dies before hearing back
        number = await submit_report(r, PHOTOS[:2])
        await fake.wait_for(lambda: len(cards(fake, GROUP)) == 1)
    # the process is gone; its lease on the delivery expires and a new process sends again
    async with polling_bot(settings):
        await card_in(fake, GROUP, 2)
        await fake.wait_for(lambda: len([c for c in fake.calls if c.method == "sendMediaGroup" and c.result]) == 1)
        await fake.wait_for(lambda: any("telah diteruskan" in t for t in fake.texts(REPORTER)))
        # The reporter's news goes out once the card is; the delivery records its end a moment
        # later (a stop before that releases it, to be sent again: read the record, not a guess).
        await fake.wait_for(lambda: db_rows(settings, "SELECT status FROM outbox WHERE kind = 'post_case'")
                            == [("sent",)])
    assert [f"<b>Laporan {number}</b>" in c["text"] for c in cards(fake, GROUP)] == [True, True]
    assert db_rows(settings, "SELECT kind, status FROM outbox WHERE kind = 'post_case'") == [("post_case", "sent")]


async def test_staff_commands_over_telegram_send_text_chart_files_and_evidence(
        fake: FakeTelegram, settings: Settings) -> None:
    r = Reporter(fake, REPORTER)
    async with polling_bot(settings):
        await register(fake, GROUP, "denpasar")
        number = await submit_report(r, PHOTOS[:2], identity="rahasia")
        await card_in(fake, GROUP)
        fake.push(tg.text(ADMIN, "/kasus"))  # the admin's chat also gets the route's announcement
        await fake.wait_for(lambda: any(t.startswith("1 kasus") for t in fake.texts(ADMIN)))
        listing = next(t for t in fake.texts(ADMIN) if t.startswith("1 kasus"))
        assert listing.startswith("1 kasus, halaman 1 dari 1:") and number in listing
        fake.push(tg.text(ADMIN, "/statistik 7"))
        await fake.wait_for(lambda: len(fake.sent("sendPhoto", ADMIN)) == 1)
        chart = fake.sent("sendPhoto", ADMIN)[0]["photo"]
        assert chart["data"].startswith(b"\x89PNG")
        fake.push(tg.text(ADMIN, "/ekspor"))
        await fake.wait_for(lambda: len(fake.sent("sendDocument", ADMIN)) == 2)
        names = [d["document"]["filename"] for d in fake.sent("sendDocument", ADMIN)]
        assert names[0].endswith(".csv") and names[1].endswith(".xlsx")
        assert b"Siti Aminah" in fake.sent("sendDocument", ADMIN)[0]["document"]["data"], "admins get identity"
        fake.push(tg.text(ADMIN, f"/lihat {number}"))
        await fake.wait_for(lambda: len(fake.sent("sendMediaGroup", ADMIN)) == 1)
        fake.push(tg.group_text(GROUP, f"/lihat {number}", OFFICER))
        await fake.wait_for(lambda: any(t.startswith(f"Laporan {number}") for t in fake.texts(GROUP)))
        officer_view = next(t for t in fake.texts(GROUP) if t.startswith(f"Laporan {number}"))
        assert "Siti" not in officer_view, "a confidential reporter stays hidden from officers"
        before = len(fake.texts(REPORTER))
        fake.push(tg.text(REPORTER, "/kasus"))
        refused = await fake.wait_messages(REPORTER, before + 1)
        assert refused[-1] == "Maaf, perintah itu tidak tersedia untuk Anda."


async def test_hostile_text_shows_literally_to_the_reporter_and_in_the_group(fake: FakeTelegram,
                                                                             settings: Settings) -> None:
    import html

    hostile = {
        "agency": "<b>SMPN</b> & <script>alert(1)</script>",
        "person": "*Budi* _Santoso_ [x](http://evil.example)",
        "position": "'; DROP TABLE cases; --",
        "place": "\u202eRuang guru\u200b\u200d",
        "description": "Ajakan memilih " + "x" * 3960 + " <i>&amp;</i>",
    }
    r = Reporter(fake, REPORTER)
    async with polling_bot(settings):
        await register(fake, GROUP, "denpasar")
        await r.say("/start", at_least=2)
        await r.press("agree")
        await r.say("denpasar")
        await r.press("pemda")
        await r.press("sekolah")
        await r.say(hostile["agency"])
        await r.say(hostile["person"])
        await r.say(hostile["position"])
        await r.press("pns")
        await r.press("media_sosial")
        await r.say("19/11/2024")
        await r.press("same")
        await r.say(hostile["place"])
        await r.send(tg.location(REPORTER, -8.65, 115.21))
        await r.say(hostile["description"])
        await r.press("skip")
        await r.press("done")
        await r.press("none")
        summary = "\n".join(await r.press("anonim"))
        for value in hostile.values():
            assert value in summary, value[:40]
        await r.press("send")
        card = (await card_in(fake, GROUP))["text"]
    assert cards(fake, GROUP)[0]["parse_mode"] == "HTML" and "<script>" not in card
    shown = html.unescape(card)
    for key in ("agency", "person", "position", "place"):
        assert hostile[key] in shown, key
    assert hostile["description"][:3000] in shown, "the description, cut to fit the card, is literal"
