"""The Telegram channel end to end: the real PTB Application and Bot, over HTTP, against a
fake Bot API server on localhost. Assertions are on what that server received."""

from __future__ import annotations

import hashlib

import aiohttp
import pytest

from bot.config import Settings
from storage.evidence_files import EvidenceStore
from tests import fake_telegram as tg
from tests.backends import Backend, inspect_db
from tests.fake_telegram import FakeTelegram
from tests.telegram_harness import Reporter, polling_bot, settings_for

CHAT = 5001
JPEG = [b"\xff\xd8\xff\xe0" + bytes([n]) * 2000 for n in range(3)]
PDF = b"%PDF-1.4 surat edaran dukungan"


@pytest.fixture
def settings(fake: FakeTelegram, backend: Backend) -> Settings:
    return settings_for(fake, backend)


def cases_in(settings: Settings) -> list[tuple]:
    with inspect_db(settings) as db:  # the pin is sealed: opened as the service opens it
        return [(*row[:4], db.open("cases", "latitude", row[4]))
                for row in db.execute("SELECT id, number, region_code, identity_mode, latitude FROM cases").fetchall()]


async def stored_bytes(settings: Settings, sha: str) -> bytes | None:
    db = await settings.open_database()
    try:
        return await EvidenceStore.for_database(db, settings.evidence_dir).get(sha)
    finally:
        await db.close()


async def walk_to_evidence(r: Reporter) -> None:
    await r.say("/start")
    await r.press("agree")
    await r.say("denpasar")
    await r.press("pemda")
    await r.press("sekolah")
    await r.say("SMPN 1 Denpasar")
    await r.say("Budi Santoso")
    await r.press("skip")
    await r.press("pns")
    await r.press("media_sosial")
    await r.say("19/11/2024")
    await r.press("same")
    await r.say("Ruang guru SMPN 1 Denpasar")
    await r.send(tg.location(CHAT, -8.65, 115.21))
    await r.say("Kepala sekolah mengunggah ajakan memilih paslon 2 di grup WhatsApp guru.")
    await r.press("skip")


async def test_complete_report_with_album_document_and_location(fake: FakeTelegram, settings: Settings) -> None:
    r = Reporter(fake, CHAT)
    async with polling_bot(settings):
        welcome = await r.say("/start", at_least=2)
        assert welcome[0].startswith("Selamat datang di Lapor Netral")
        consent = r.last_keyboard_message()["params"]["reply_markup"]["inline_keyboard"]
        assert [b["text"] for row in consent for b in row] == ["Setuju", "Tidak setuju"]
        await walk_to_evidence(r)
        before = len(fake.shown(CHAT))
        for n, data in enumerate(JPEG):
            fake.push(tg.photo(fake, CHAT, f"album-{n}", data, group="album-1"))
        replies = await r.settle(before)
        assert len(replies) == 1, "an album gets one answer, not one per photo"
        assert "3 bukti sudah masuk (paling banyak 10)" in replies[0]
        assert "4 bukti sudah masuk" in (await r.send(tg.document(fake, CHAT, "surat.pdf", PDF)))[-1]
        await r.press("done")
        await r.press("terbuka")
        phone_prompt = fake.sent("sendMessage", CHAT)[-1]
        await r.say("Siti Aminah")
        phone_prompt = fake.sent("sendMessage", CHAT)[-1]
        assert phone_prompt["reply_markup"]["keyboard"][0][0]["request_contact"] is True
        summary = (await r.send(tg.contact(CHAT, "+6281234567890")))[-1]
        assert "Terlapor: Budi Santoso\nStatus kepegawaian: PNS" in summary and "Bukti: 4 file" in summary
        assert "(-8.65000, 115.21000)" in summary
        done = await r.press("send")
        assert "Terima kasih. Laporan Anda sudah diterima dengan nomor LN-" in done[0]

    (case_id, number, region, identity, latitude), = cases_in(settings)
    assert (region, identity, latitude) == ("51.71", "terbuka", -8.65)
    with inspect_db(settings) as db:  # the references are sealed: opened with the key
        evidence = [(kind, db.open("evidence", "channel_ref", ref), db.open("evidence", "channel_unique_ref", unique),
                     mime, size, sha) for kind, ref, unique, mime, size, sha in db.execute(
                         "SELECT kind, channel_ref, channel_unique_ref, mime, size, sha256"
                         " FROM evidence WHERE case_id = ? ORDER BY position", (case_id,)).fetchall()]
    assert [e[:2] for e in evidence] == [("photo", "album-0"), ("photo", "album-1"), ("photo", "album-2"),
                                         ("document", "surat.pdf")]
    for (_kind, _ref, unique, _mime, size, sha), data in zip(evidence, [*JPEG, PDF]):
        assert unique and size == len(data) and sha == hashlib.sha256(data).hexdigest()
        assert await stored_bytes(settings, sha) == data
    edits = [p["text"] for p in fake.sent("editMessageText", CHAT)]
    assert any(e.startswith("» Setuju\n\n") for e in edits), "the pressed question becomes the next, with the pick"
    assert len(fake.sent("answerCallbackQuery")) == sum(1 for c in fake.calls if c.method == "answerCallbackQuery")


async def test_every_button_press_is_answered_and_old_buttons_change_nothing(fake: FakeTelegram, settings: Settings) -> None:
    r = Reporter(fake, CHAT)
    async with polling_bot(settings):
        await r.say("/start", at_least=2)
        consent_message = r.last_keyboard_message()
        await r.press("agree")
        presses_before = len(fake.sent("answerCallbackQuery"))
        messages_before = len(fake.shown(CHAT))
        fake.push(r.press_update("agree", consent_message))
        await fake.wait_for(lambda: len(fake.sent("answerCallbackQuery")) > presses_before)
        answer = fake.sent("answerCallbackQuery")[-1]
        assert "sudah tidak berlaku" in answer["text"]
        assert len(fake.shown(CHAT)) == messages_before
        reply = await r.say("bali")
        assert "Kabupaten/kota mana di Bali?" in reply[-1], "the conversation did not move"


async def test_sticker_at_a_date_step_back_and_cancel(fake: FakeTelegram, settings: Settings) -> None:
    r = Reporter(fake, CHAT)
    async with polling_bot(settings):
        await r.say("/start", at_least=2)
        for step in (lambda: r.press("agree"), lambda: r.say("denpasar"), lambda: r.press("tni_polri"),
                     lambda: r.press("unknown"), lambda: r.press("unknown"), lambda: r.press("skip"),
                     lambda: r.press("nav:next"), lambda: r.press("lainnya")):  # TNI/Polri: no employment status
            await step()
        hint = await r.send(tg.sticker(CHAT), at_least=2)
        assert hint[0] == "Maaf, itu tidak bisa dipakai di sini."
        assert "Kapan kejadiannya?" in hint[1]
        back = await r.say("/kembali")
        assert "Apa yang dilakukannya?" in back[-1]
        await r.say("/batal")
        assert "Batalkan laporan ini?" in fake.shown(CHAT)[-1]
        cancelled = await r.press("yes")
        assert "dibatalkan" in cancelled[0]
    assert cases_in(settings) == []


async def test_restart_mid_flow_continues(fake: FakeTelegram, settings: Settings) -> None:
    r = Reporter(fake, CHAT)
    async with polling_bot(settings):
        await walk_to_evidence(r)
    async with polling_bot(settings):  # a new Application on the same database
        reply = await r.send(tg.photo(fake, CHAT, "after-restart", JPEG[0]))
        assert "1 bukti sudah masuk" in reply[-1]
        await r.press("done")
        await r.press("anonim")
        await r.press("send")
    assert len(cases_in(settings)) == 1


async def test_the_same_update_delivered_twice_is_processed_once(fake: FakeTelegram, settings: Settings) -> None:
    r = Reporter(fake, CHAT)
    async with polling_bot(settings):
        await r.say("/start", at_least=2)
        await r.press("agree")
        update = tg.text(CHAT, "bali")
        before = len(fake.shown(CHAT))
        fake.push(update)
        await r.settle(before)
        fake.redeliver(dict(update))  # the same update_id again
        await fake.wait_for(lambda: not fake.forced)
        after_duplicate = await r.say("/bantuan", at_least=2)
    texts = fake.shown(CHAT)[before:]
    assert sum("Kabupaten/kota mana di Bali?" in t for t in texts) == 2  # once, plus the re-ask after /bantuan
    assert "Perintah:" in after_duplicate[0]


async def test_edited_messages_and_membership_changes_are_not_answers(fake: FakeTelegram, settings: Settings) -> None:
    r = Reporter(fake, CHAT)
    async with polling_bot(settings):
        await r.say("/start", at_least=2)
        await r.press("agree")
        edited = tg.text(CHAT, "jakarta")
        edited["edited_message"] = edited.pop("message")
        fake.push(edited)
        fake.push({"my_chat_member": {"chat": {"id": CHAT, "type": "private"}, "from": tg.user(CHAT),
                                      "date": 0, "old_chat_member": {"status": "member", "user": tg.BOT_USER},
                                      "new_chat_member": {"status": "kicked", "user": tg.BOT_USER, "until_date": 0}}})
        reply = await r.say("bali")
    assert "Kabupaten/kota mana di Bali?" in reply[-1] and len(reply) == 1


async def test_a_file_over_twenty_megabytes_is_refused(fake: FakeTelegram, settings: Settings) -> None:
    r = Reporter(fake, CHAT)
    async with polling_bot(settings):
        await walk_to_evidence(r)
        huge = tg.document(fake, CHAT, "video.mp4", b"x", mime="video/mp4", size=25 * 1024 * 1024)
        reply = await r.send(huge)
        assert "lebih dari 20 MB" in reply[0]
        assert not fake.sent("getFile")
        reply = await r.press("done")
        assert "tanpa bukti" in reply[0], "nothing was added"


async def test_a_failure_apologises_and_keeps_the_state(fake: FakeTelegram, settings: Settings) -> None:
    r = Reporter(fake, CHAT)
    async with polling_bot(settings):
        await walk_to_evidence(r)
        fake.fail("getFile", 500, "Internal Server Error")
        reply = await r.send(tg.photo(fake, CHAT, "flaky", JPEG[1]))
        assert reply[0].startswith("Maaf, terjadi kesalahan")
        reply = await r.send(tg.photo(fake, CHAT, "flaky2", JPEG[1]))
        assert "1 bukti sudah masuk" in reply[-1]


async def test_english_client_and_language_switch(fake: FakeTelegram, settings: Settings) -> None:
    r = Reporter(fake, CHAT, language="en")
    async with polling_bot(settings):
        welcome = await r.say("/start", at_least=2)
        assert welcome[0].startswith("Welcome to Lapor Netral")
        await r.press("agree")
        await r.say("/bahasa")
        switched = await r.press("id", at_least=2)
        assert switched[0] == "» Indonesia\n\nBahasa sudah diganti." and "Di mana kejadiannya?" in switched[1]


async def test_commands_are_registered_in_both_languages(fake: FakeTelegram, settings: Settings) -> None:
    async with polling_bot(settings):
        pass
    registered = {language: commands for (scope, language), commands in fake.menus.items()
                  if scope == "all_private_chats"}
    assert {"mulai", "kembali", "batal", "bantuan", "bahasa", "status", "data_saya", "hapus_data"} == {
        c["command"] for c in registered[""]}
    assert registered[""][0]["description"] == "Mulai laporan baru"
    assert registered["en"][0]["description"] == "Start a new report"


async def test_groups_never_run_the_report_flow(fake: FakeTelegram, settings: Settings) -> None:
    group = -100777
    async with polling_bot(settings):
        fake.push(tg.text(group, "halo semua", chat_type="supergroup"))
        fake.push(tg.text(group, "@lapor_netral_bot saya mau lapor", chat_type="supergroup"))
        await fake.wait_for(lambda: bool(fake.sent("sendMessage", group)))
    sent = fake.sent("sendMessage", group)
    assert len(sent) == 1
    assert "kirim pesan pribadi" in sent[0]["text"]
    assert sent[0]["reply_markup"]["inline_keyboard"][0][0]["url"] == "https://t.me/lapor_netral_bot?start=lapor"
    with inspect_db(settings) as db:
        assert db.execute("SELECT count(*) FROM conversations").fetchone()[0] == 0


async def test_webhook_mode_checks_the_secret(fake: FakeTelegram, backend: Backend, unused_tcp_port: int) -> None:
    import asyncio

    from bot.serve import serve

    settings = settings_for(fake, backend, public_base_url="https://lapor.example.org",
                            telegram_webhook_secret="s3cret-token", host="127.0.0.1", port=unused_tcp_port)
    stop = asyncio.Event()
    server = asyncio.create_task(serve(settings, stop))
    base = f"http://127.0.0.1:{unused_tcp_port}"
    try:
        await fake.wait_for(lambda: bool(fake.sent("setWebhook")))
        hook = fake.sent("setWebhook")[0]
        assert hook["url"] == "https://lapor.example.org/telegram/webhook"
        assert hook["secret_token"] == "s3cret-token" and "callback_query" in hook["allowed_updates"]
        update = tg.text(CHAT, "/start")
        update["update_id"] = 5
        async with aiohttp.ClientSession() as http:
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
                async with http.post(f"{base}/telegram/webhook", json=update, headers=headers) as resp:
                    assert resp.status == 403
            assert not fake.sent("sendMessage", CHAT)
            async with http.post(f"{base}/telegram/webhook", json=update,
                                 headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"}) as resp:
                assert resp.status == 200
            assert (await fake.wait_messages(CHAT, 1))[0].startswith("Selamat datang")
            async with http.get(f"{base}/healthz") as resp:
                assert resp.status == 200 and await resp.json() == {"status": "ok"}, "details need the token"
    finally:
        stop.set()
        await server


async def test_a_reply_not_yet_sent_at_a_crash_is_sent_after_restart(fake: FakeTelegram, settings: Settings) -> None:
    """Replies are queued with the step: Telegram failing, then the process stopping, loses none."""
    r = Reporter(fake, CHAT)
    fake.fail("sendMessage", 500, "Internal Server Error", times=1000, chat_id=CHAT)
    async with polling_bot(settings):
        fake.push(tg.text(CHAT, "/start"))
        await fake.wait_for(lambda: len(fake.sent("sendMessage", CHAT)) >= 2)  # tried, failed
    assert not [c for c in fake.calls if c.method == "sendMessage" and c.result]
    fake.failures.clear()
    def delivered() -> list[str]:
        return [c.params["text"] for c in fake.calls if c.method == "sendMessage" and c.result
                and str(c.params["chat_id"]) == str(CHAT)]

    async with polling_bot(settings):
        await fake.wait_for(lambda: len(delivered()) >= 2)  # the welcome and the consent question
        await r.settle(0)
    assert delivered()[0].startswith("Selamat datang di Lapor Netral") and len(delivered()) == 2
    with inspect_db(settings) as db:
        assert db.execute("SELECT count(*) FROM processed_updates").fetchone() == (1,), "the step ran once"
