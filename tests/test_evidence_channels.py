"""Issue 27 end to end, on each channel: a "Kampanye di media sosial" report with an Instagram
link and a TikTok share link at step 8, a YouTube share link in the description, a voice note
whose tags carry a marker, and a forwarded campaign message. Telegram runs the real PTB
application against the fake Bot API, WhatsApp the real webhook and inbox against the fake
Twilio, the console the real `python -m bot console`; share links are followed through the
fake platform on 127.0.0.2. The focal group must get clean links, the recording without its
marker, the origin of the forwarded message; nothing of the sharer anywhere."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from bot.config import Settings
from tests import fake_telegram as tg
from tests import fake_twilio as tw
from tests import hostile_files as hostile
from tests.backends import Backend, inspect_db
from tests.fake_platform import FakePlatform
from tests.fake_telegram import FakeTelegram
from tests.fake_twilio import FakeTwilio
from tests.telegram_harness import Reporter, settings_for
from tests.test_case_file import flat, text_of
from tests.test_focal_points import card_in, press, register
from tests.test_outbound_proof import service, telegram_requests, twilio_requests
from tests.test_reporter_safety import captured_logs

GROUP, ADMIN, REPORTER = -1001000000001, 4242, 730111222
IG_SHARED = "https://www.instagram.com/p/C9xYz12AbCd/?igsh=MWQ1ZGUxMzBkMA=="
IG = "https://www.instagram.com/p/C9xYz12AbCd/"
TT_SHORT = "https://vm.tiktok.com/ZMhAbCdEf/"
TT = "https://www.tiktok.com/@camat.contoh/video/7312345678901234567"
TT_SHARED = TT + "?_r=1&_t=8iAbCdEfGh&u_code=df0k1m2n&sec_user_id=MS4wLjABAAAA&share_app_id=1233"
GONE_SHORT = "https://vt.tiktok.com/ZSgone/"
YT_SHARED = "https://youtu.be/dQw4w9WgXcQ?si=AbCdEfGhIjKlMnOp"
YT = "https://youtu.be/dQw4w9WgXcQ"
DESCRIPTION = f"Kepala sekolah mengunggah ajakan memilih paslon 2 di akunnya: {YT_SHARED} dan meminta guru membagikannya."
CAMPAIGN = "Bapak/Ibu guru, ayo coblos paslon 2 tanggal 27! Info: https://x.com/tim2/status/1857012345678901234?s=46&t=AbC"
TRACES = ("igsh", "MWQ1ZGUxMzBkMA", "si=AbC", "AbCdEfGhIjKlMnOp", "mibextid", "fbclid", "_t=8iA", "u_code",
          "ZMhAbCdEf", "sec_user_id", "s=46", "t=AbC")
"""The sharers' traces: none may appear in any outbound call, file, log line or stored row."""


@pytest.fixture
async def platform() -> AsyncIterator[FakePlatform]:
    fake = FakePlatform()
    await fake.start()
    fake.short("vm.tiktok.com", "/ZMhAbCdEf/", TT_SHARED)
    yield fake
    await fake.stop()


def _settings(fake: FakeTelegram, backend: Backend, platform: FakePlatform, **extra: Any) -> Settings:
    return settings_for(fake, backend, admin_telegram_ids=[ADMIN], delivery_poll_seconds=0.05,
                        delivery_backoff_seconds=0.1, telegram_timeout=3.0, log_level="DEBUG",
                        **platform.settings(), **extra)


def _stored(settings: Settings) -> str:
    with inspect_db(settings) as db:
        return "\n".join(repr(row) for table in ("conversations", "cases", "evidence", "outbox", "case_events",
                                                 "inbound_queue", "processed_updates")
                         for row in db.execute(f"SELECT * FROM {table}").fetchall())


def _check_group(fake: FakeTelegram, number: str) -> dict[str, Any]:
    """The card and the recording as the focal group got them."""
    card = next(c for c in fake.calls if c.method == "sendMessage" and str(c.params.get("chat_id")) == str(GROUP)
                and str(c.params.get("text", "")).startswith("<b>Laporan"))
    text = card.params["text"]
    assert f"Instagram: {IG}" in text and f"TikTok: {TT}" in text, text
    assert YT in text, "the description's link, cleaned"
    assert "Info ASN Kab (@\u2060infoasnkab)" in text or "Pesan diteruskan" in text
    assert card.params.get("link_preview_options") == {"is_disabled": True}
    assert "ZSgone" not in text and "belum bisa dibersihkan" in text, "the unresolved link is not forwarded"
    voices = [c for c in fake.calls if c.method == "sendVoice" and str(c.params.get("chat_id")) == str(GROUP)]
    assert len(voices) == 1 and voices[0].result.get("voice"), "sent as a voice message, played in the chat"
    upload = voices[0].params["voice"]
    assert re.fullmatch(rf"{number}-bukti-\d+\.ogg", upload["filename"])
    assert hostile.markers_in(upload["data"]) == [] and hostile.MARKERS["audio_artist"].encode() not in upload["data"]
    assert upload["data"].startswith(b"OggS")
    return card.params


async def _case_file(fake: FakeTelegram) -> str:
    card = await card_in(fake, GROUP)
    await press(fake, card, "case_file")
    await fake.wait_for(lambda: any(c.method == "sendDocument" and str(c.params.get("chat_id")) == str(GROUP)
                                    and str(c.params.get("document", {}).get("filename", "")).endswith(".pdf")
                                    for c in fake.calls), timeout=30)
    pdf = next(c.params["document"]["data"] for c in reversed(fake.calls) if c.method == "sendDocument"
               and str(c.params.get("document", {}).get("filename", "")).endswith(".pdf"))
    return flat(text_of(pdf))


def _no_traces(texts: list[str], logs: str, stored: str) -> None:
    for trace in TRACES:
        for text in texts:
            assert trace not in text, (trace, text[:400])
        assert trace not in logs, trace
        assert trace not in stored, trace


@pytest.mark.timeout(180)
async def test_telegram_report_with_links_a_voice_note_and_a_forwarded_message(
        fake: FakeTelegram, backend: Backend, platform: FakePlatform) -> None:
    from tests.telegram_harness import polling_bot

    settings = _settings(fake, backend, platform)
    r = Reporter(fake, REPORTER)
    with captured_logs("DEBUG", settings) as logs:
        async with polling_bot(settings):
            await register(fake, GROUP, "51.71")
            await r.until_evidence(DESCRIPTION)
            told = await r.say(f"Unggahannya {IG_SHARED} dan {TT_SHORT}?_r=1")
            assert "2 bukti sudah masuk" in told[-1]
            told = await r.send(tg.voice(fake, REPORTER, "rekaman-rapat", hostile.opus_voice()))
            assert any("suara Anda sendiri" in t for t in told)
            told = await r.send(tg.forwarded(REPORTER, CAMPAIGN, tg.channel_origin("Info ASN Kab", "infoasnkab",
                                                                                  1731896100)))
            assert "4 bukti sudah masuk" in told[-1]
            told = await r.say(GONE_SHORT)
            assert sum("alamat lengkap yang tampil di browser" in t for t in told) == 1
            await r.press("done")
            await r.press("anonim")
            done = await r.press("send")
            number = next(w for w in done[0].split() if w.startswith("LN-")).rstrip(".")
            await fake.wait_for(lambda: bool(fake.sent("sendVoice", GROUP)), timeout=20)
            card = _check_group(fake, number)
            assert "Info ASN Kab (@\u2060infoasnkab)" in card["text"] and "Senin, 18 November 2024" in card["text"]
            berkas = await _case_file(fake)
    assert "Rekaman suara OGG" in berkas and "audio/ogg" not in berkas and "Durasi 0:02" in berkas, berkas[:3000]
    with inspect_db(settings) as db:
        (sha, clean), = db.execute("SELECT e.sha256, c.clean_sha256 FROM evidence e JOIN cleaned_files c"
                                   " ON c.sha256 = e.sha256 WHERE e.kind = 'audio'").fetchall()
    # the group's case file names the cleaned copy it was sent, never the original (main's 35d47a1)
    assert clean in berkas.replace(" ", "") and sha not in berkas.replace(" ", ""), "the recording's copy's SHA-256"
    assert f"Tautan (Instagram) Alamat {IG}" in berkas and "Pesan diteruskan" in berkas
    assert "ZSgone" not in berkas and "hanya ditampilkan untuk moderator" in berkas
    _no_traces([call.text for call in telegram_requests(fake)], logs.getvalue(), _stored(settings))



@pytest.mark.timeout(180)
async def test_whatsapp_report_with_links_a_voice_note_and_a_forwarded_message(
        fake: FakeTelegram, twilio: FakeTwilio, backend: Backend, platform: FakePlatform,
        unused_tcp_port: int) -> None:
    settings = _settings(fake, backend, platform, public_base_url="https://lapor.example.org", host="127.0.0.1",
                         port=unused_tcp_port, twilio_account_sid=tw.ACCOUNT_SID, twilio_auth_token=tw.AUTH_TOKEN,
                         twilio_whatsapp_from=tw.BOT_NUMBER, **twilio.settings())
    with captured_logs("DEBUG", settings) as logs:
        async with service(settings, twilio) as user:
            await register(fake, GROUP, "51.71")
            for answer in ("halo", "1", "denpasar", "Pemerintah daerah", "8", "SMPN 1 Denpasar", "Budi Santoso",
                           "Kepala Sekolah", "1", "2", "19/11/2024", "2", "Ruang guru"):
                await user.say(answer)
            await user.location(-8.65, 115.21)
            await user.say(DESCRIPTION)
            await user.say("1")  # no witnesses
            told = await user.say(f"Unggahannya {IG_SHARED} dan {TT_SHORT}?_r=1")
            assert "2 bukti sudah masuk" in told[-1]
            told = await user.send(user.form("", NumMedia="1", MediaUrl0=twilio.host("wa-voice", hostile.opus_voice(),
                                                                                     "audio/ogg"),
                                             MediaContentType0="audio/ogg; codecs=opus", MessageType="audio"))
            assert any("suara Anda sendiri" in t for t in told)
            told = await user.send(user.form(CAMPAIGN, Forwarded="true", FrequentlyForwarded="true"))
            assert "4 bukti sudah masuk" in told[-1]
            told = await user.send(user.form(GONE_SHORT))
            assert sum("alamat lengkap yang tampil di browser" in t for t in told) == 1
            await user.say("1")  # done
            await user.say("1")  # anonim
            done = await user.say("1")  # send
            number = next(m.group(0) for t in done if (m := re.search(r"LN-\d{2}-[0-9A-Z]{5}", t)))
            await fake.wait_for(lambda: bool(fake.sent("sendVoice", GROUP)), timeout=20)
            card = _check_group(fake, number)
            assert "Pesan diteruskan: «Bapak/Ibu guru" in card["text"]
            berkas = await _case_file(fake)
    assert "Rekaman suara OGG" in berkas and "audio/ogg" not in berkas and "Durasi 0:02" in berkas
    texts = [call.text for call in telegram_requests(fake)] + [r.text for r in twilio_requests(twilio)]
    _no_traces(texts, logs.getvalue(), _stored(settings))


@pytest.fixture
def threaded_platform() -> Iterator[FakePlatform]:
    """The fake platform on a loop of its own, for a console that runs as another process."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    fake = FakePlatform()
    asyncio.run_coroutine_threadsafe(fake.start(), loop).result(10)
    fake.short("vm.tiktok.com", "/ZMhAbCdEf/", TT_SHARED)
    yield fake
    asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


@pytest.mark.slow  # the console as a process
def test_console_report_with_links_and_a_recording(backend: Backend, threaded_platform: FakePlatform) -> None:
    voice = backend.tmp_path / "Rekaman Siti Aminah.ogg"
    voice.write_bytes(hostile.opus_voice())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_", "DATABASE_", "LINK_"))}
    env.update(backend.env())
    env.update({"LINK_ALLOW_NETWORKS": "127.0.0.2/32", "LOG_LEVEL": "DEBUG",
                "LINK_ADDRESSES": json.dumps(threaded_platform.settings()["link_addresses"]),
                "LINK_CA_FILE": str(threaded_platform.ca_file)})
    subprocess.run([sys.executable, "-m", "bot", "routes", "add", "51.71", str(GROUP)], env=env, cwd=backend.tmp_path,
                   check=True, capture_output=True, timeout=60)
    lines = ["halo", "1", "denpasar", "1", "8", "SMPN 1 Denpasar", "Budi Santoso", "Kepala Sekolah", "1", "2",
             "19/11/2024", "2", "Ruang guru", "lokasi -8.65, 115.21", DESCRIPTION, "1",
             f"Unggahannya {IG_SHARED} dan {TT_SHORT}?_r=1", str(voice), GONE_SHORT, "1", "1", "1"]
    out = subprocess.run([sys.executable, "-m", "bot", "console"], input="\n".join(lines) + "\n", capture_output=True,
                         text=True, env=env, cwd=backend.tmp_path, timeout=90, check=True).stdout
    assert "2 bukti sudah masuk" in out and "suara Anda sendiri" in out
    assert out.count("alamat lengkap yang tampil di browser") == 1
    assert f"Instagram: {IG}" in out and f"TikTok: {TT}" in out, "the summary lists the clean links"
    number = re.search(r"LN-\d{2}-[0-9A-Z]{5}", out)
    assert number is not None, out[-1500:]
    settings = Settings(**backend.settings())
    with inspect_db(settings) as db:  # links and the account are sealed: opened as the service opens them
        rows = [(kind, db.open("evidence", "url", url), held)
                for kind, url, held in db.execute("SELECT kind, url, held FROM evidence ORDER BY position").fetchall()]
        (description,), = db.execute("SELECT description FROM cases").fetchall()
        description = db.open("cases", "description", description)
    assert [tuple(r) for r in rows] == [("link", IG, 0), ("link", TT, 0), ("audio", None, 0),
                                        ("link", GONE_SHORT, 1)]
    assert YT in description
    logs = (backend.tmp_path / "data" / "console.log").read_text() if (backend.tmp_path / "data" / "console.log").exists() \
        else ""
    _no_traces([out], logs, _stored(settings))
