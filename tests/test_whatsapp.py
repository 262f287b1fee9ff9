"""WhatsApp end to end: webhook requests signed exactly as Twilio signs them, posted to
`python -m bot serve`'s server; media from a local host that wants basic auth; replies
captured by a fake Twilio REST API; focal points on the fake Telegram Bot API."""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from PIL import Image
from pydantic import SecretStr

from bot.config import Settings
from bot.serve import serve
from flows.policy import Policy
from flows.staff import route_admin
from storage import outbox, updates
from tests import fake_twilio as tw
from tests.backends import Backend, inspect_db, outbox_of
from tests.fake_telegram import FakeTelegram
from tests.fake_twilio import FakeTwilio, WhatsAppUser
from tests.quiet import until_quiet
from tests.telegram_harness import settings_for
from tests.test_focal_points import GROUP, cards, jpeg_with_gps

NUMBER = "+6281298765432"
PUBLIC = "https://lapor.example.org"
PATH = "/twilio/whatsapp"
DESCRIPTION = "Kepala sekolah mengunggah ajakan memilih paslon 2 di grup WhatsApp guru."




@pytest.fixture
def settings(telegram: FakeTelegram, twilio: FakeTwilio, backend: Backend, unused_tcp_port: int) -> Settings:
    return settings_for(
        telegram, backend, public_base_url=PUBLIC, telegram_webhook_secret="tg-secret",
        host="127.0.0.1", port=unused_tcp_port, twilio_account_sid=tw.ACCOUNT_SID, twilio_auth_token=tw.AUTH_TOKEN,
        twilio_whatsapp_from=tw.BOT_NUMBER, delivery_poll_seconds=0.05,
        delivery_backoff_seconds=0.1, **twilio.settings())


@asynccontextmanager
async def server(settings: Settings, twilio: FakeTwilio, number: str = NUMBER) -> AsyncIterator[WhatsAppUser]:
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop))
    url = f"http://127.0.0.1:{settings.port}"
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            try:
                async with http.get(f"{url}/healthz") as response:
                    if response.status == 200:
                        break
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
    try:
        yield WhatsAppUser(twilio, url + PATH, PUBLIC + PATH, number, settings)
    finally:
        stop.set()
        await task


def rows(settings: Settings, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with inspect_db(settings) as db:
        return db.execute(sql, params).fetchall()


async def register_group(settings: Settings) -> None:
    db = await settings.open_database()
    async with db.transaction() as tx:
        await route_admin.add(tx, Policy(), "51.71", GROUP, by="test", at="2024-11-20T00:00:00+00:00")
    await db.close()


async def queue_news(settings: Settings, text: str) -> None:
    """A message for the number written by another process, as a case's news would be."""
    db = await settings.open_database()
    async with db.transaction() as tx:
        await outbox.enqueue(tx, "whatsapp", NUMBER, "send", {"replies": [{"type": "text", "text": text}],
                                                               "locale": "id"}, "2026-01-01T00:00:00+00:00")
    await db.close()


async def report_until_evidence(user: WhatsAppUser) -> None:
    welcome = await user.say("halo")
    assert "Selamat datang di Lapor Netral" in welcome[-1]
    assert "1. Setuju" in welcome[-1] and "(Balas dengan angka 1–2.)" in welcome[-1]
    for answer in ("1.", "denpasar", "Pemerintah daerah", "8", "SMPN 1 Denpasar", "Budi Santoso",
                   "Kepala Sekolah", "1", "2", "19/11/2024", "2", "Ruang guru"):
        await user.say(answer)
    pin = await user.location(-8.65, 115.21)
    assert "Apa yang terjadi?" in pin[-1]
    await user.say(DESCRIPTION)
    evidence = await user.say("1")
    assert "bukti" in evidence[-1].lower()


async def test_a_complete_report_with_three_photos_reaches_the_focal_group(
        settings: Settings, twilio: FakeTwilio, telegram: FakeTelegram) -> None:
    await register_group(settings)
    photos = [jpeg_with_gps(n * 60) for n in range(3)]
    urls = [twilio.host(f"img{n}", data, missing_once=(n == 1)) for n, data in enumerate(photos)]
    async with server(settings, twilio) as user:
        await report_until_evidence(user)
        got = await user.photos(*urls)
        assert "3 bukti sudah masuk (paling banyak 10)" in got[-1]
        await user.say("1")  # done with evidence
        await user.say("1")  # anonymous
        done = await user.say("1")  # send
        assert "Terima kasih. Laporan Anda sudah diterima dengan nomor LN-" in done[0]
        number = next(w for w in done[0].split() if w.startswith("LN-")).rstrip(".")
        await telegram.wait_for(lambda: len(cards(telegram, GROUP)) == 1)
        await telegram.wait_for(lambda: any(c.method == "sendMediaGroup" and c.result for c in telegram.calls))
        await twilio.wait_for(lambda: any("telah diteruskan" in m for m in twilio.to(NUMBER)))
    (case_id, stored_number, channel, identity), = rows(settings, "SELECT id, number, channel, identity_mode FROM cases")
    assert (stored_number, channel, identity) == (number, "whatsapp", "anonim")
    evidence = rows(settings, "SELECT kind, mime, sha256, size FROM evidence WHERE case_id = ? ORDER BY position", case_id)
    assert [(k, m, s, z) for k, m, s, z in evidence] == [
        ("photo", "image/jpeg", hashlib.sha256(p).hexdigest(), len(p)) for p in photos]
    assert all(authorised for _name, authorised in twilio.media_requests), "media is fetched with the credentials"
    assert [n for n, _ in twilio.media_requests].count("img1") == 2, "the 404 was retried"
    album = next(c.params for c in telegram.calls if c.method == "sendMediaGroup" and c.result)
    uploads = [v["data"] for v in album.values() if isinstance(v, dict) and "data" in v]
    assert len(uploads) == 3 and all(not Image.open(io.BytesIO(u)).getexif() for u in uploads)
    card = cards(telegram, GROUP)[0]["text"]
    assert NUMBER not in card and NUMBER[1:] not in card and "Siti Rahasia" not in card
    with inspect_db(settings) as db:
        dump = "\n".join(db.iterdump())
    assert "Siti Rahasia" not in dump, "the WhatsApp profile name is never stored"


async def test_a_forged_or_missing_signature_is_refused_and_nothing_is_stored(
        settings: Settings, twilio: FakeTwilio) -> None:
    async with server(settings, twilio) as user:
        form = user.form("halo")
        assert (await user.post(form, signature="bm90IGEgc2lnbmF0dXJl")).status == 403
        assert (await user.post(form, signature="")).status == 403
        tampered = tw.sign(user.public_url, form)
        assert (await user.post({**form, "Body": "lain"}, signature=tampered)).status == 403
        signed_for_other_url = tw.sign("https://evil.example.org" + PATH, form)
        assert (await user.post(form, signature=signed_for_other_url)).status == 403
        async with aiohttp.ClientSession() as http:
            async with http.post(user.webhook_url, json=form) as response:
                assert response.status == 415
            async with http.get(user.webhook_url) as response:
                assert response.status == 405
        await until_quiet(settings)
    assert rows(settings, "SELECT count(*) FROM inbound_queue") == [(0,)]
    assert rows(settings, "SELECT count(*) FROM processed_updates") == [(0,)]
    assert twilio.messages == []


async def test_malformed_or_oversized_bodies_are_a_400_or_413_never_a_traceback(
        settings: Settings, twilio: FakeTwilio, caplog: pytest.LogCaptureFixture) -> None:
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}
    async with server(settings, twilio) as user, aiohttp.ClientSession() as http:
        for body in (b"Body=\xff\xfe&From=whatsapp%3A%2B62812", b"Body=%ZZ%" + b"\xc3" * 10,
                     b"\x00" * 1000):
            async with http.post(user.webhook_url, data=body, headers=form_type) as response:
                assert response.status in (400, 403), body[:20]
                assert "Traceback" not in await response.text()
        async with http.post(user.webhook_url, data=b"Body=" + b"a" * 400_000, headers=form_type) as response:
            assert response.status == 413
        async with http.get(user.webhook_url.removesuffix(PATH) + "/healthz") as response:
            assert response.status == 200
    assert not [r for r in caplog.records if r.exc_info], "nothing was logged as a crash"
    assert rows(settings, "SELECT count(*) FROM inbound_queue") == [(0,)]


async def test_a_replayed_message_sid_is_processed_once(settings: Settings, twilio: FakeTwilio) -> None:
    async with server(settings, twilio) as user:
        form = user.form("halo")
        first = await user.post(form)
        assert first.status == 200 and first.content_type == "text/xml"
        again = await user.post(form)
        assert again.status == 200
        await twilio.wait_for(lambda: len(twilio.to(NUMBER)) >= 1)
        await until_quiet(settings)  # both posts handled: whatever the second caused is out
    assert len(twilio.to(NUMBER)) == 1
    assert rows(settings, "SELECT count(*) FROM inbound_queue") == [(0,)], "processed messages leave the queue"
    assert rows(settings, "SELECT count(*) FROM processed_updates WHERE channel = 'whatsapp'") == [(1,)]


async def test_a_replay_long_after_the_processed_row_was_pruned_gets_200_and_no_effect(
        settings: Settings, twilio: FakeTwilio) -> None:
    """Twilio's signature has no timestamp: a captured request replayed after the 7-day
    retention of processed-update rows used to get a fresh answer."""
    async with server(settings, twilio) as user:
        form = user.form("halo")
        assert (await user.post(form)).status == 200
        await twilio.wait_for(lambda: len(twilio.to(NUMBER)) >= 1)
        db = await settings.open_database()
        try:  # what the clean-up does after 7 days (its job lock may be the running service's now)
            async with db.transaction() as tx:
                assert await updates.move_to_digests(tx, (datetime.now(UTC) + timedelta(days=200)).isoformat(), 100) == 1
        finally:
            await db.close()
        assert rows(settings, "SELECT count(*) FROM processed_updates") == [(0,)]
        replay = await user.post(form)
        assert replay.status == 200 and replay.content_type == "text/xml"
        await asyncio.sleep(0.8)
    assert len(twilio.to(NUMBER)) == 1, "no second answer"
    assert rows(settings, "SELECT count(*) FROM inbound_queue") == [(0,)], "nothing was even queued"
    digests = rows(settings, "SELECT digest FROM message_digests")
    assert len(digests) == 1 and len(digests[0][0]) == 16, "16 bytes a message"
    assert NUMBER.encode() not in digests[0][0] and b"SM" not in digests[0][0]


async def test_stop_silences_everything_until_mulai(settings: Settings, twilio: FakeTwilio) -> None:
    async with server(settings, twilio) as user:
        await user.say("halo")
        stopped = await user.say("STOP")
        assert stopped == [("Anda tidak akan menerima pesan lagi dari Lapor Netral. Kirim MULAI bila ingin "
                            "menerimanya lagi.")]
        still = await user.say("1")
        assert still[-1].startswith("Anda telah menghentikan pesan dari Lapor Netral.")
        await queue_news(settings, "berita")  # news about a case, meanwhile
        await until_quiet(settings)  # the worker has dealt with it
        assert "berita" not in twilio.to(NUMBER)
        back = await user.say("mulai")
        assert back == ["Selamat datang kembali. Anda akan menerima pesan dari Lapor Netral lagi."]
        welcome = await user.say("halo")
        assert "Setuju" in welcome[-1], "the conversation goes on"
    assert [r.last_error for r in outbox_of(settings) if "berita" in r.text] == ["dropped: opted out"]


async def test_a_twilio_outage_delays_replies_but_loses_none(settings: Settings, twilio: FakeTwilio) -> None:
    async with server(settings, twilio) as user:
        twilio.fail(429, 500, 500, 503)
        welcome = await user.say("halo")
        assert "Selamat datang di Lapor Netral" in welcome[-1]
        twilio.fail(500, 500)
        province = await user.say("1")
        assert "provinsi" in province[-1].lower()
    assert twilio.attempts == len(twilio.messages) + 6
    assert rows(settings, "SELECT status, count(*) FROM outbox GROUP BY status") == [("sent", 2)]


async def test_news_outside_the_24_hour_window_waits_for_the_person_or_uses_the_template(
        settings: Settings, twilio: FakeTwilio) -> None:
    async with server(settings, twilio) as user:
        await user.say("halo")
        with inspect_db(settings) as db:  # the person last wrote two days ago
            db.execute("UPDATE contacts SET last_inbound_at = '2000-01-01T00:00:00+00:00'")
        await queue_news(settings, "kabar kasus")
        await twilio.wait_for(lambda: [r.last_error for r in outbox_of(settings) if "kabar kasus" in r.text]
                              == ["outside the 24-hour window: waiting for the person to write"])
        assert "kabar kasus" not in twilio.to(NUMBER), "outside the window, with no template, it waits"
        replies = await user.say("1", replies=2)
        assert "kabar kasus" in replies, "the person wrote: the window is open and it goes out"
    template = settings.model_copy(update={"twilio_status_template_sid": "HX" + "1" * 32})
    async with server(template, twilio) as user:
        with inspect_db(settings) as db:
            db.execute("UPDATE contacts SET last_inbound_at = '2000-01-01T00:00:00+00:00'")
        await queue_news(settings, "kabar kedua")
        await twilio.wait_for(lambda: any(m.get("ContentSid") for m in twilio.messages))
    sent = next(m for m in twilio.messages if m.get("ContentSid"))
    assert sent["ContentSid"] == "HX" + "1" * 32 and "kabar kedua" in sent["ContentVariables"]


async def test_readiness_reports_news_held_for_the_window_apart_and_stays_ready(
        settings: Settings, twilio: FakeTwilio, telegram: FakeTelegram) -> None:
    """Done when (issue 29): one WhatsApp message held for the 24-hour window (no template)
    kept the old health check at 503 forever, so a balancer took every worker out. It is
    reported apart; a message that could be sent and is stuck still makes a worker unready."""
    settings = settings.model_copy(update={"health_max_backlog_seconds": 60.0, "metrics_token": SecretStr("m-t0ken")})
    details = {"Authorization": "Bearer m-t0ken"}
    async with server(settings, twilio) as user, aiohttp.ClientSession() as http:
        ready = user.webhook_url.replace(PATH, "/readyz")
        await user.say("halo")
        with inspect_db(settings) as db:  # the person last wrote two days ago
            db.execute("UPDATE contacts SET last_inbound_at = '2000-01-01T00:00:00+00:00'")
        await queue_news(settings, "kabar kasus")  # queued on 1 January: months old
        await twilio.wait_for(lambda: rows(settings, "SELECT held_for FROM outbox WHERE held_for IS NOT NULL")
                              == [("window",)])
        async with http.get(ready) as response:
            assert response.status == 200 and await response.json() == {"status": "ok"}
        async with http.get(ready, headers=details) as response:
            body = await response.json()
        assert response.status == 200 and body["outbox_pending"] == 0 and body["oldest_pending_seconds"] is None
        assert body["held"]["window"]["count"] == 1 and body["held"]["window"]["oldest_seconds"] > 86400
        assert body["held"]["route"]["count"] == 0 and body["held"]["template"]["count"] == 0
        telegram.fail("sendMessage", 500, "Internal Server Error", times=1000, chat_id=-100555)
        db = await settings.open_database()
        async with db.transaction() as tx:  # a message to a group that Telegram keeps failing, queued 2 minutes ago
            await outbox.enqueue(tx, "telegram", "-100555", "send", {"replies": [{"type": "text", "text": "x"}]},
                                 (datetime.now(UTC) - timedelta(minutes=2)).isoformat())
        await db.close()
        await telegram.wait_for(lambda: bool(telegram.sent("sendMessage", -100555)))
        async with http.get(ready, headers=details) as response:
            body = await response.json()
        assert response.status == 503 and body["outbox_pending"] == 1 and body["oldest_pending_seconds"] > 60
        assert body["held"]["window"]["count"] == 1
        async with http.get(ready.replace("/readyz", "/healthz")) as response:
            assert response.status == 200, "alive all the same"
        replies = await user.say("1", replies=2)  # the person writes: the window opens, the news goes out
        assert "kabar kasus" in replies
    assert rows(settings, "SELECT count(*) FROM outbox WHERE held_for IS NOT NULL") == [(0,)]


async def test_a_voice_note_gets_a_clear_hint_and_changes_nothing(settings: Settings, twilio: FakeTwilio) -> None:
    """At a step that wants text, a voice note is not dropped: the hint says recordings go with
    the evidence (issue 27), and nothing of it is downloaded."""
    voice = twilio.host("voice.ogg", b"OggS voice", content_type="audio/ogg")
    async with server(settings, twilio) as user:
        await user.say("halo")
        await user.say("1")
        hint = await user.send(user.form("", NumMedia="1", MediaUrl0=voice, MediaContentType0="audio/ogg",
                                         MessageType="audio"))
        assert hint[-1].startswith("Saya tidak bisa mendengarkan rekaman di langkah ini.")
        assert "sebagai bukti" in hint[-1] and "provinsi" in hint[-1].lower(), "the same question is asked again"
    assert rows(settings, "SELECT state FROM conversations") == [("province",)]
    assert twilio.cdn_requests == [], "nothing was downloaded"


async def test_a_kepala_desa_typed_in_words_goes_through_the_real_webhook(
        settings: Settings, twilio: FakeTwilio) -> None:
    """Done when (issue 13): the report of a kepala desa in Kabupaten Badung, typed as new
    reporters type it, goes through WhatsApp without a refusal and without a word about buttons."""
    from tests.test_reporter_talk import BADUNG_KEPALA_DESA

    seen = []
    async with server(settings, twilio) as user:
        for line in (*BADUNG_KEPALA_DESA, "kirim"):
            seen.extend(await user.say(line))
        seen.extend(await user.say("status " + next(
            w for w in seen[-1].split() if w.startswith("LN-")).rstrip(".")))
    everything = "\n".join(seen)
    assert "tidak ditemukan" not in everything and "tidak dapat dibaca" not in everything
    assert "tekan" not in everything.lower() and "tombol" not in everything.lower()
    assert "menunggu petugas ditetapkan" in seen[-2] and "Menunggu petugas" in seen[-1]
    assert rows(settings, "SELECT region_code, agency_group, person_status FROM cases") == [("51.03", "desa", "bukan_asn")]
