"""Issue 11, item 7: proof over every outbound byte.

One full case lifecycle per identity mode and per channel, on the real PTB application
(polling the fake Bot API) and the real WhatsApp webhook, inbox and sender (against the fake
Twilio): a report with an album, a PDF, a video and an office file; forwarding; Terima; a
"Minta info" question with a link and its answer with a file; a reroute ("Bukan
kewenangan"); `/lihat`, `/jejak` and `/ekspor` typed by a focal point and by a moderator, in
a group and in private; status news. Every request body either fake receives (multipart
uploads included) and every log line at DEBUG is recorded, then searched.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote_plus

import pytest

from bot.config import Settings
from bot.web import make_web_app, start_site
from tests import fake_telegram as tg
from tests import fake_twilio as tw
from tests import hostile_files as hostile
from tests.backends import Backend, inspect_db
from tests.fake_telegram import FakeTelegram
from tests.fake_twilio import FakeTwilio, WhatsAppUser
from tests.quiet import until_quiet
from tests.telegram_harness import Reporter, polling_bot, settings_for
from tests.test_reporter_safety import captured_logs, video_update

ADMIN, MODERATOR, OFFICER_A, OFFICER_B = 4242001, 5151002, 7701003, 7702004
GROUP_A, GROUP_B = -1001000000001, -1001000000002
TG_REPORTER = 730111222
TG_IDENTIFIERS = ["730111222", "wulan_pelapor", "Wulandari", "Kusumawardhani"]
WA_NUMBER = "+6281298765432"
WA_IDENTIFIERS = ["6281298765432", "Siti Rahasia"]  # the number and the WhatsApp profile name
NAME, PHONE_TYPED, PHONE_DIGITS = "Siti Aminah", "081234567890", "81234567890"
DESCRIPTION = "Kepala sekolah mengunggah ajakan memilih paslon 2 di grup WhatsApp guru SMPN-UJI."
QUESTION = "Bisa kirim foto spanduknya? Contoh: https://contoh.id/spanduk"
ANSWER = "Spanduknya di pagar depan, JAWABAN-PELAPOR."
PUBLIC = "https://lapor.example.org"
SHARED_LINKS = ("https://www.instagram.com/p/C9xYz12AbCd/?igsh=MWQ1ZGUxMzBkMA==&utm_source=ig_web_copy_link "
                "https://www.facebook.com/story.php?story_fbid=pfbid02AbC&id=100012345678901&mibextid=Nif5oz"
                "&fbclid=IwAR0abc https://youtu.be/dQw4w9WgXcQ?si=AbCdEfGhIjKlMnOp https://vm.tiktok.com/ZMsharerPath/")
"""Issue 27: links as the Share buttons give them (the TikTok one cannot be followed here)."""
SHARER_TRACES = ("igsh", "MWQ1ZGUxMzBkMA", "mibextid", "fbclid", "si=AbC")
HELD_PATH = "ZMsharerPath"
"""The short link nobody could follow: held for moderators, so shown only to them in private."""
FILE_NAME = re.compile(r"^(LN-\d{2}-[0-9A-Z]{5}-bukti-\d+\.[a-z0-9]+|kasus-\d{8}-\d{4}\.(csv|xlsx)|statistik\.png"
                       r"|berkas-LN-\d{2}-[0-9A-Z]{5}\.pdf)$")
OFFICERS = ("+6281300000001", "+6281300000002")
"""Issue 26: a WhatsApp roster beside GROUP_A for 51.71 (its officers act and read on WhatsApp)."""


@dataclass
class Outbound:
    """One request that left the service: to whom, its whole text, and its files."""

    to: str
    text: str
    files: list[tuple[str, bytes]] = field(default_factory=list)
    index: int = 0


def telegram_requests(fake: FakeTelegram) -> list[Outbound]:
    found = []
    for n, call in enumerate(fake.calls):
        files = [(v["filename"], v["data"]) for v in call.params.values() if isinstance(v, dict) and "data" in v]
        plain = {k: v for k, v in call.params.items() if not (isinstance(v, dict) and "data" in v)}
        text = (call.raw.decode("latin-1") + json.dumps(plain, ensure_ascii=False, default=str)
                + "".join(hostile.text_of(name, data) for name, data in files))
        chat = call.params.get("chat_id")
        found.append(Outbound(f"telegram:{chat}" if chat is not None else "telegram:-", text, files, n))
    return found


def twilio_requests(twilio: FakeTwilio) -> list[Outbound]:
    """Every request to Twilio's API, and every file Twilio then fetched from our signed
    URLs for it (as the officer's WhatsApp receives it), PDFs' text extracted."""
    found = []
    fetched = {f.url: f for f in twilio.fetched}
    for method, path, body in twilio.requests:
        raw = body.decode("utf-8", "replace")
        form = parse_qs(raw)
        to = (form.get("To") or ["-"])[0]
        files = []
        text = f"{method} {unquote_plus(path)} {raw} {unquote_plus(raw)}"
        for url in form.get("MediaUrl", []):
            got = fetched.get(url)
            if got is not None and got.status == 200:
                name = url.rsplit("/", 1)[1]
                files.append((name, got.data))
                text += hostile.text_of(name, got.data)
                if got.data.startswith(b"%PDF"):
                    from pypdf import PdfReader

                    text += "".join(page.extract_text() for page in PdfReader(io.BytesIO(got.data)).pages)
        found.append(Outbound(f"twilio:{to}", text, files))
    return found


class Lifecycle:
    """Drives the people of one case: the reporter (Telegram or WhatsApp), officers, staff."""

    def __init__(self, fake: FakeTelegram, twilio: FakeTwilio, settings: Settings, channel: str,
                 identity: str, whatsapp: WhatsAppUser | None) -> None:
        self.fake, self.twilio, self.settings = fake, twilio, settings
        self.channel, self.identity, self.whatsapp = channel, identity, whatsapp
        self.reporter = Reporter(fake, TG_REPORTER)
        self.number = ""

    async def quiet(self, condition: Callable[[], bool] = lambda: True, timeout: float = 20.0) -> None:
        """Until `condition` holds, the service has nothing left to do (`tests/quiet.py`) and
        Twilio has fetched every file it was given a URL for."""
        await until_quiet(self.settings, condition, self.fake, timeout)
        await self.twilio.wait_for(self.twilio.idle, timeout)

    def told(self) -> list[str]:
        """What the reporter has been sent, on their channel."""
        if self.channel == "telegram":
            return [str(p.get("text") or p.get("caption") or "") for c in self.fake.calls
                    if str(c.params.get("chat_id")) == str(TG_REPORTER) for p in (c.params,)]
        return self.twilio.to(WA_NUMBER)

    def _to(self, chat_id: int) -> int:
        return sum(1 for c in self.fake.calls if str(c.params.get("chat_id")) == str(chat_id) and c.result)

    async def group(self, chat_id: int, text: str, user_id: int, reply_to: dict[str, Any] | None = None) -> None:
        """Say something in a group and wait for the answer (every command gets one)."""
        before = self._to(chat_id)
        self.fake.push(tg.group_text(chat_id, text, user_id, reply_to=reply_to))
        await self.quiet(lambda: self._to(chat_id) > before)

    async def private(self, user_id: int, text: str) -> None:
        before = self._to(user_id)
        self.fake.push(tg.text(user_id, text))
        await self.quiet(lambda: self._to(user_id) > before)

    def card(self, chat_id: int) -> dict[str, Any]:
        return next(c.result for c in reversed(self.fake.calls) if c.method == "sendMessage" and c.result
                    and str(c.params.get("chat_id")) == str(chat_id)
                    and str(c.params.get("text", "")).startswith("<b>Laporan"))

    async def press(self, chat_id: int, action: str, user_id: int) -> None:
        card = self.card(chat_id)
        case_id = card["reply_markup"]["inline_keyboard"][0][0]["callback_data"].split(":")[1]
        data = f"c:{case_id}:{action}"  # the button as the edited card shows it
        answered = len(self.fake.sent("answerCallbackQuery"))
        self.fake.push(tg.group_press(chat_id, data, card, user_id))
        await self.quiet(lambda: len(self.fake.sent("answerCallbackQuery")) > answered)

    def _prompts(self, chat_id: int) -> list[dict[str, Any]]:
        return [c.result for c in self.fake.calls if c.method == "sendMessage" and c.result
                and str(c.params["chat_id"]) == str(chat_id) and "force_reply" in str(c.params.get("reply_markup"))]

    async def answer_prompt(self, chat_id: int, action: str, user_id: int, text: str) -> None:
        before = len(self._prompts(chat_id))
        await self.press(chat_id, action, user_id)
        await self.quiet(lambda: len(self._prompts(chat_id)) > before)
        await self.group(chat_id, text, user_id, reply_to=self._prompts(chat_id)[-1])

    # --- the reporter -------------------------------------------------------------------------

    async def report(self) -> None:
        if self.channel == "telegram":
            await self._report_telegram()
        else:
            await self._report_whatsapp()
        self.number = next(m.group(0) for t in self.told() if (m := re.search(r"LN-\d{2}-[0-9A-Z]{5}", t)))
        await self.quiet(lambda: bool(self.fake.sent("sendMediaGroup", GROUP_A)))

    async def _report_telegram(self) -> None:
        r, fake = self.reporter, self.fake
        await r.until_evidence(DESCRIPTION)
        before = r._count()
        fake.push(tg.photo(fake, r.chat_id, "album-foto-1", hostile.jpeg(), group="album-1"))
        fake.push(tg.photo(fake, r.chat_id, "album-foto-2", hostile.png(), group="album-1"))
        await r.settle(before)
        await r.send(tg.document(fake, r.chat_id, hostile.ORIGINAL_NAME, hostile.pdf()))
        await r.send(video_update(fake, r.chat_id, "VID_Siti_Aminah.mp4", hostile.mp4()))
        await r.send(tg.document(fake, r.chat_id, "Catatan_Siti_Aminah.docx", hostile.docx(),
                                 mime="application/vnd.openxmlformats-officedocument.wordprocessingml.document"))
        await r.send(tg.voice(fake, r.chat_id, "Rekaman_Siti_Aminah", hostile.opus_voice()))
        await r.say(SHARED_LINKS)
        await r.press("done")
        await r.press(self.identity)
        if self.identity != "anonim":
            await r.say(NAME)
            await r.say(PHONE_TYPED)
        await r.press("send")

    async def _report_whatsapp(self) -> None:
        user, twilio = self.whatsapp, self.twilio
        assert user is not None
        for answer in ("halo", "1", "denpasar", "Pemerintah daerah", "8", "SMPN 1 Denpasar", "Budi Santoso",
                       "Kepala Sekolah", "1", "2", "19/11/2024", "2", "Ruang guru"):
            await user.say(answer)
        await user.location(-8.65, 115.21)
        await user.say(DESCRIPTION)
        await user.say("1")  # no witnesses
        await user.send(user.form("", NumMedia="2", MediaUrl0=twilio.host("wa-foto-1", hostile.jpeg()),
                                  MediaContentType0="image/jpeg", MediaUrl1=twilio.host("wa-foto-2", hostile.png(), "image/png"),
                                  MediaContentType1="image/png"))
        for name, data, mime in (("wa-pdf", hostile.pdf(), "application/pdf"), ("wa-vid", hostile.mp4(), "video/mp4"),
                                 ("wa-docx", hostile.docx(), "application/vnd.openxmlformats-officedocument")):
            await user.send(user.form("", NumMedia="1", MediaUrl0=twilio.host(name, data, mime), MediaContentType0=mime))
        await user.send(user.form("", NumMedia="1", MediaUrl0=twilio.host("wa-voice", hostile.opus_voice(), "audio/ogg"),
                                  MediaContentType0="audio/ogg; codecs=opus"))
        await user.say(SHARED_LINKS)
        await user.say("1")  # done with evidence
        await user.say({"anonim": "1", "rahasia": "2", "terbuka": "3"}[self.identity])
        if self.identity != "anonim":
            await user.say(NAME)
            await user.say(PHONE_TYPED)
        await user.say("1")  # send

    async def roster(self) -> None:
        """Two officers' WhatsApp numbers for 51.71, added by an admin in Telegram; each writes
        first (the invitation waits for WhatsApp's window) and says yes."""
        for number in OFFICERS:
            await self.private(ADMIN, f"/daftar_fokus 51.71 {number} Inspektorat Denpasar")
        for number in OFFICERS:
            officer = self.officer(number)
            await self.quiet(lambda n=number: all(m.get("To") != f"whatsapp:{n}" for m in self.twilio.messages)
                             and self._held(n))
            await officer.say("halo")
            await officer.say("ya")

    def _held(self, number: str) -> bool:
        with inspect_db(self.settings) as db:
            return bool(db.execute("SELECT count(*) FROM outbox WHERE address = ? AND held_for = 'window'",
                                   (db.lookup(number),)).fetchone()[0])  # an address is stored as its keyed hash

    def officer(self, number: str) -> WhatsAppUser:
        assert self.whatsapp is not None
        return WhatsAppUser(self.twilio, self.whatsapp.webhook_url, self.whatsapp.public_url, number, self.settings)

    async def officer_says(self, number: str, text: str, replies: int = 1) -> list[str]:
        said = await self.officer(number).say(text, replies)
        await self.quiet()
        return said

    async def answer_question(self) -> None:
        await self.quiet(lambda: any(QUESTION in t for t in self.told()))
        if self.channel == "telegram":
            r = self.reporter
            await r.say(ANSWER)
            await r.send(tg.photo(self.fake, r.chat_id, "jawaban-foto", hostile.jpeg(200)))
            await r.press("done")
        else:
            user = self.whatsapp
            assert user is not None
            await user.say(ANSWER)
            await user.send(user.form("", NumMedia="1", MediaUrl0=self.twilio.host("wa-jawaban", hostile.jpeg(200)),
                                      MediaContentType0="image/jpeg"))
            await user.say("1")  # done
        await self.quiet(lambda: any(ANSWER in t for t in self.fake.texts(GROUP_A)))



@asynccontextmanager
async def service(settings: Settings, twilio: FakeTwilio) -> AsyncIterator[WhatsAppUser]:
    """The bot as `run` runs it (Telegram polling) plus the WhatsApp webhook of `serve`."""
    async with polling_bot(settings) as runtime:
        assert runtime.db is not None
        site = await start_site(make_web_app(settings, runtime.db, None), settings.host, settings.port)
        try:
            yield WhatsAppUser(twilio, f"http://127.0.0.1:{settings.port}/twilio/whatsapp",
                               PUBLIC + "/twilio/whatsapp", WA_NUMBER, settings)
        finally:
            await site.cleanup()


@pytest.mark.timeout(300)  # a whole lifecycle with ~60 exchanges; slow on a loaded machine
@pytest.mark.parametrize("identity", ["anonim", "rahasia", "terbuka"])
@pytest.mark.parametrize("channel", ["telegram", "whatsapp"])
async def test_nothing_identifying_leaves_except_as_the_identity_mode_allows(
        fake: FakeTelegram, twilio: FakeTwilio, backend: Backend, unused_tcp_port: int, channel: str, identity: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    plain_user = tg.user

    def user(user_id: int, language: str = "id", **extra: Any) -> dict[str, Any]:
        if user_id == TG_REPORTER:
            return {**plain_user(user_id, language), "first_name": "Wulandari", "last_name": "Kusumawardhani",
                    "username": "wulan_pelapor", **extra}
        return plain_user(user_id, language, **extra)

    monkeypatch.setattr(tg, "user", user)
    settings = settings_for(
        fake, backend, admin_telegram_ids=[ADMIN], delivery_poll_seconds=0.05, delivery_backoff_seconds=0.1,
        telegram_timeout=3.0, public_base_url=PUBLIC, host="127.0.0.1", port=unused_tcp_port,
        twilio_account_sid=tw.ACCOUNT_SID, twilio_auth_token=tw.AUTH_TOKEN, twilio_whatsapp_from=tw.BOT_NUMBER,
        log_level="DEBUG", link_resolve=False, max_messages_per_minute=60, **twilio.settings())
    twilio.fetch_map[PUBLIC] = f"http://127.0.0.1:{unused_tcp_port}"  # Twilio fetches officers' files from us
    with captured_logs("DEBUG", settings) as logs:
        levels = [logging.getLogger().level]
        async with service(settings, twilio) as whatsapp:
            life = Lifecycle(fake, twilio, settings, channel, identity, whatsapp)
            await life.group(GROUP_A, "/daftar_fokus 51.71", ADMIN)
            await life.group(GROUP_B, "/daftar_fokus 51.03", ADMIN)
            await life.private(ADMIN, f"/tambah_moderator {MODERATOR}")
            await life.roster()
            await life.report()
            number = life.number
            await life.quiet(lambda: all(len(twilio.media_for(n)) >= 5 for n in OFFICERS))
            await life.press(GROUP_A, "accept", OFFICER_A)
            await life.answer_prompt(GROUP_A, "ask", OFFICER_A, QUESTION)
            await life.answer_question()
            # Telegram lets a bot post about 20 messages a minute in one group (PTB's rate limiter
            # waits beyond): each group command is typed once, by a moderator before the move and
            # by an officer after it; privately both type them all.
            for command in (f"/lihat {number}", f"/jejak {number}", "/ekspor"):
                await life.group(GROUP_A, command, MODERATOR)
                await life.private(MODERATOR, command)
                await life.private(OFFICER_A, command)
            await life.private(ADMIN, "/ekspor")
            await life.group(GROUP_A, "/rute semua", ADMIN)
            for command in (f"lihat {number}", f"jejak {number}", f"berkas {number}", "kasus"):
                await life.officer_says(OFFICERS[0], command)
            await life.quiet(lambda: any(f.url.endswith(".pdf") and "berkas-" in f.url for f in twilio.fetched))
            await life.officer_says(OFFICERS[1], "1")  # Terima, after the group accepted: the current status
            moved_at = len(fake.calls)
            await life.answer_prompt(GROUP_A, "not_ours", OFFICER_A, "51.03")
            await life.quiet(lambda: any(str(c.params.get("chat_id")) == str(GROUP_B) and c.method == "sendMediaGroup"
                                         for c in fake.calls))
            for command in (f"/lihat {number}", f"/jejak {number}", "/ekspor"):
                await life.group(GROUP_B, command, OFFICER_B)
            for command in (f"/lihat {number}", "/kasus"):
                await life.group(GROUP_A, command, OFFICER_A)
            await life.private(MODERATOR, f"/lihat {number}")
            await life.press(GROUP_B, "accept", OFFICER_B)
            await life.press(GROUP_B, "finish", OFFICER_B)
            await life.quiet(lambda: sum(number in t for t in life.told()) >= 6)
    requests = telegram_requests(fake) + twilio_requests(twilio)
    log_text = logs.getvalue()
    reporter_chat = f"telegram:{TG_REPORTER}" if channel == "telegram" else f"twilio:whatsapp:{WA_NUMBER}"
    trusted = {reporter_chat, f"telegram:{ADMIN}", f"telegram:{MODERATOR}"}
    officers = {f"twilio:whatsapp:{n}" for n in OFFICERS}

    # The lifecycle really happened (so that the searches below search something).
    assert levels == [logging.DEBUG] and "Application started" in log_text, "DEBUG logging was on and captured"
    assert any(f.endswith(".pdf") for r in requests if r.to == f"telegram:{GROUP_A}" for f, _ in r.files)
    assert any(f.endswith(".mp4") for r in requests if r.to == f"telegram:{GROUP_B}" for f, _ in r.files)
    assert any("disimpan untuk moderator" in r.text for r in requests if r.to == f"telegram:{GROUP_A}")
    assert any(hostile.MARKERS["docx_creator"] in r.text for r in requests if r.to == f"telegram:{MODERATOR}"), \
        "a moderator can view the file that could not be cleaned, privately"
    assert any("diserahkan ke kantor lain" in r.text for r in requests[moved_at:] if r.to == f"telegram:{GROUP_A}")
    if identity != "anonim":
        assert any(NAME in r.text for r in requests if r.to == f"telegram:{MODERATOR}")
    for officer in officers:  # issue 26: the roster got the card, the evidence as fetched media, a case file
        mine = [r for r in requests if r.to == officer]
        assert any(r.text.count("Laporan " + number) and "1. Terima" in unquote_plus(r.text) for r in mine), officer
        assert sum(1 for r in mine for f, _ in r.files if "-bukti-" in f) >= 5, officer
    assert any(f.startswith("berkas-") for r in requests if r.to in officers for f, _ in r.files)

    # An Anonim (and every) reporter's own identifiers reach their own chat only.
    for r in requests:
        for identifier in TG_IDENTIFIERS + WA_IDENTIFIERS:
            assert identifier not in r.text or r.to == reporter_chat, (identifier, r.to, r.text[:300])
        assert identifier not in log_text

    # A Rahasia identity only in private chats with admins and moderators; a Terbuka one also
    # in the group that holds the case at the time.
    for r in requests:
        if NAME in r.text or PHONE_DIGITS in r.text:
            allowed = set(trusted) if identity != "anonim" else {reporter_chat}
            if identity == "terbuka":
                allowed |= {f"telegram:{GROUP_B}", *officers}  # the roster holds the case all along
                if r.index < moved_at:
                    allowed.add(f"telegram:{GROUP_A}")
            assert r.to in allowed, (identity, r.to, r.text[:300])

    # The old group gets nothing of the case once it has moved: no details, no files.
    for r in requests[moved_at:]:
        if r.to == f"telegram:{GROUP_A}":
            assert DESCRIPTION not in r.text and ANSWER not in r.text, r.text[:300]
            assert all(number not in hostile.text_of(name, data) for name, data in r.files), "an empty export at most"
            assert not any(FILE_NAME.match(name) and "-bukti-" in name for name, _ in r.files), "no evidence"

    # Issue 27: the recording reached the group, without its tags; no sharer's trace anywhere.
    assert any(f.endswith(".ogg") for r in requests if r.to == f"telegram:{GROUP_A}" for f, _ in r.files)
    assert any("Instagram: https://www.instagram.com/p/C9xYz12AbCd/" in r.text for r in requests
               if r.to == f"telegram:{GROUP_A}")
    for trace in SHARER_TRACES:
        assert all(trace not in r.text for r in requests), trace
        assert trace not in log_text, trace
    assert all(HELD_PATH not in r.text or r.to in (f"telegram:{ADMIN}", f"telegram:{MODERATOR}") for r in requests)
    assert any(HELD_PATH in r.text for r in requests if r.to == f"telegram:{MODERATOR}"), "moderators can see it"
    assert HELD_PATH not in log_text

    # No token anywhere: not in a request body, not in a log line.
    for secret in (tg.TOKEN, tg.TOKEN.split(":")[1], tw.AUTH_TOKEN):
        assert all(secret not in r.text for r in requests) and secret not in log_text

    # Every uploaded file: named after the case, none of the planted markers.
    for r in requests:
        for name, data in r.files:
            assert FILE_NAME.match(name), name
            found = hostile.findings(name, data)
            if r.to in trusted:
                found = [f for f in found if f != "docx_creator"]
            if name.startswith("berkas-"):  # our own case file: fpdf2's producer and date, no reporter's file
                found = [f for f in found if f != "pdf_metadata"]
            assert found == [], (r.to, name, found)

    # The relayed question: link previews off and a caution, on both channels.
    asked = [r for r in requests if r.to == reporter_chat and QUESTION.split()[0] in r.text]
    assert asked and all("Hati-hati: pertanyaan ini berisi tautan" in unquote_plus(r.text) for r in asked)
    if channel == "telegram":
        for call in fake.calls:
            if call.method == "sendMessage" and "contoh.id" in str(call.params.get("text", "")):
                assert call.params.get("link_preview_options") == {"is_disabled": True}

    # Logs: no chat ids, no phone numbers, no names, no message text.
    for value in (NAME, PHONE_DIGITS, DESCRIPTION, QUESTION, ANSWER, str(GROUP_A)[1:], str(GROUP_B)[1:],
                  str(ADMIN), str(MODERATOR), str(OFFICER_A), *TG_IDENTIFIERS, *WA_IDENTIFIERS):
        assert value not in log_text, value
