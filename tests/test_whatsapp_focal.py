"""Issue 26 end to end: focal points on WhatsApp. Officers' numbers are added from the shell
(and by `/daftar_fokus`), say yes, get the case card with its numbered menu and its evidence
as media that the fake Twilio fetches from the signed URLs, and act by number or by word;
the reporter is on WhatsApp too. Every webhook request is signed as Twilio signs it; every
message out goes through the fake Twilio's REST API."""

from __future__ import annotations

import asyncio
import io
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from PIL import Image
from pydantic import SecretStr

from bot import routes_cli
from bot.config import Settings
from bot.serve import serve
from bot.shell import Shell
from bot.whatsapp import media_links
from storage import Database, keys
from tests import fake_telegram as tg
from tests import fake_twilio as tw
from tests.backends import Backend, inspect_db
from tests.fake_telegram import FakeTelegram
from tests.fake_twilio import FakeTwilio, WhatsAppUser
from tests.telegram_harness import settings_for

PUBLIC = "https://lapor.example.org"
PATH = "/twilio/whatsapp"
REPORTER = "+6281298765432"
OFFICER_1, OFFICER_2, OFFICER_3 = "+6281300000001", "+6281300000002", "+6281300000003"
ADMIN = 4242001
NAME, PHONE = "Siti Aminah", "081234567890"
COMMENT = "Difoto oleh Siti Aminah dengan HP Samsung"
DESCRIPTION = "Kepala dinas memasang baliho paslon 2 di halaman kantor kelurahan."
CASE = re.compile(r"LN-\d{2}-[0-9A-Z]{5}")


def photo_with_exif_and_comment(shade: int = 90) -> bytes:
    """A real camera JPEG's kind of metadata: maker, GPS position, and a comment naming the reporter."""
    image = Image.new("RGB", (640, 480), (shade, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "Samsung"  # Make
    exif[0x8825] = {1: "S", 2: (0.0, 8.0, 0.0), 3: "E", 4: (117.0, 29.0, 0.0)}  # GPSInfo: Bontang
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, comment=COMMENT.encode())
    data = out.getvalue()
    assert Image.open(io.BytesIO(data)).getexif() and COMMENT.encode() in data
    return data


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    server = FakeTwilio()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def settings(telegram: FakeTelegram, twilio: FakeTwilio, backend: Backend, unused_tcp_port: int) -> Settings:
    twilio.fetch_map[PUBLIC] = f"http://127.0.0.1:{unused_tcp_port}"
    return settings_for(
        telegram, backend, public_base_url=PUBLIC, telegram_webhook_secret="tg-secret", admin_telegram_ids=[ADMIN],
        host="127.0.0.1", port=unused_tcp_port, twilio_account_sid=tw.ACCOUNT_SID, twilio_auth_token=tw.AUTH_TOKEN,
        twilio_whatsapp_from=tw.BOT_NUMBER, delivery_poll_seconds=0.05, delivery_backoff_seconds=0.1,
        link_resolve=False, **twilio.settings())


class People:
    """The reporter and the officers, each a WhatsApp number posting signed webhooks."""

    def __init__(self, twilio: FakeTwilio, port: int) -> None:
        url = f"http://127.0.0.1:{port}"
        self.twilio = twilio
        self.base = url
        self.reporter = WhatsAppUser(twilio, url + PATH, PUBLIC + PATH, REPORTER)
        self.officers = {n: WhatsAppUser(twilio, url + PATH, PUBLIC + PATH, n) for n in (OFFICER_1, OFFICER_2,
                                                                                          OFFICER_3)}

    async def quiet(self, condition: Any = lambda: True, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            seen = (len(self.twilio.messages), len(self.twilio.fetched))
            await asyncio.sleep(0.2)
            if condition() and seen == (len(self.twilio.messages), len(self.twilio.fetched)):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"not quiet; last messages {self.twilio.messages[-3:]}; fetched {[(f.url[-30:], f.status) for f in self.twilio.fetched]}; to 2: {self.twilio.sent_to(OFFICER_2)}")


@asynccontextmanager
async def service(settings: Settings, twilio: FakeTwilio) -> AsyncIterator[People]:
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop))
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            try:
                async with http.get(f"http://127.0.0.1:{settings.port}/healthz") as response:
                    if response.status == 200:
                        break
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
    try:
        yield People(twilio, settings.port)
    finally:
        stop.set()
        await task


def rows(settings: Settings, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with inspect_db(settings) as db:
        return db.execute(sql, params).fetchall()


async def shell_routes(settings: Settings, command: str, *args: Any, **kwargs: Any) -> str:
    """A `python -m bot routes …` command as the shell runs it, its output as text."""
    out, err = io.StringIO(), io.StringIO()
    shell = Shell("id", settings.timezone, out=out, err=err)
    await getattr(routes_cli, command)(settings, shell, *args, **kwargs)
    return out.getvalue() + err.getvalue()


async def add_officers(settings: Settings, *numbers: str, region: str = "64.74",
                       title: str = "Inspektorat Bontang") -> None:
    for number in numbers:
        said = await shell_routes(settings, "add", region, f"whatsapp:{number}", "", title)
        assert f"{number}" in said and "diundang" in said, said


async def accept(people: People, number: str) -> None:
    """The officer writes first (the invitation waits for WhatsApp's window), then says yes."""
    officer = people.officers[number]
    invitation = await officer.say("halo")
    assert "Lapor Netral" in invitation[-1] and "1. Ya, saya bersedia" in invitation[-1], invitation
    thanks = await officer.say("ya")
    assert thanks[-1].startswith("Terima kasih. Nomor ini sekarang menerima laporan untuk Kota Bontang"), thanks


async def report(people: People, identity: str = "rahasia", photo: bytes | None = None,
                 region: str = "kota bontang") -> str:
    """A whole report on WhatsApp, in Kota Bontang, with a photo; returns its case number."""
    user, twilio = people.reporter, people.twilio
    for answer in ("halo", "1", region, "Pemerintah daerah", "2", "Dinas Pekerjaan Umum Kota Bontang",
                   "Ahmad Fauzi", "Kepala Dinas", "1", "4", "19/11/2024", "2", "Kantor Kelurahan Api-Api"):
        await user.say(answer)
    await user.location(0.13, 117.49)
    await user.say(DESCRIPTION)
    await user.say("1")  # no witnesses
    url = twilio.host("bukti-baliho.jpg", photo or photo_with_exif_and_comment())
    got = await user.photos(url)
    assert "1 bukti sudah masuk" in got[-1], got
    await user.say("1")  # done with evidence
    await user.say({"anonim": "1", "rahasia": "2", "terbuka": "3"}[identity])
    if identity != "anonim":
        await user.say(NAME)
        await user.say(PHONE)
    done = await user.say("1")  # send
    found = CASE.search(done[0])
    assert found, done
    return found.group(0)


def cards(twilio: FakeTwilio, number: str) -> list[str]:
    return [b for b in twilio.to(number) if b.startswith("*Laporan LN-")]


async def test_two_officers_of_kota_bontang_accept_get_the_case_and_act_on_it(
        settings: Settings, twilio: FakeTwilio) -> None:
    """Done when (issue 26): two officers of Kota Bontang are added and accept; a WhatsApp
    reporter files a case there with a photo; both get the card with the photo fetched from
    the signed URL, without its EXIF or comment; officer 1 replies the number for Terima (the
    reporter is told, officer 2 gets one line); officer 2 asks Minta info and the reporter's
    answer reaches officer 2; the Rahasia name reaches neither."""
    await add_officers(settings, OFFICER_1, OFFICER_2)
    async with service(settings, twilio) as people:
        await accept(people, OFFICER_1)
        await accept(people, OFFICER_2)
        number = await report(people, "rahasia")
        await people.quiet(lambda: all(len(twilio.media_for(n)) == 1 for n in (OFFICER_1, OFFICER_2)))
        for officer in (OFFICER_1, OFFICER_2):
            card, = cards(twilio, officer)
            assert card.startswith(f"*Laporan {number}*") and "Kota Bontang" in card and DESCRIPTION in card
            assert "Rahasia (hanya diketahui moderator)" in card
            assert "1. Terima" in card and "6. Minta info" in card and "7. Berkas PDF" in card
            fetched, = twilio.media_for(officer)
            assert fetched.status == 200 and fetched.content_type == "image/jpeg"
            image = Image.open(io.BytesIO(fetched.data))
            assert image.size == (640, 480) and not image.getexif() and "comment" not in image.info
            assert COMMENT.encode() not in fetched.data and b"Samsung" not in fetched.data
            assert fetched.url.startswith(f"{PUBLIC}/media/e/") and fetched.url.endswith(f"{number}-bukti-1.jpg")
        told = len(twilio.to(REPORTER))
        answer = await people.officers[OFFICER_1].say("1")
        assert answer == [f"{number}: Diterima. Pelapor sudah diberi tahu."]
        await people.quiet(lambda: any(f"{number} diterima oleh Petugas 1." in b for b in twilio.to(OFFICER_2)))
        assert any("petugas telah menerima laporan Anda" in b for b in twilio.to(REPORTER)[told:])
        assert not any("diterima oleh" in b for b in twilio.to(OFFICER_1)), "the one who acted has their own answer"
        second = await people.officers[OFFICER_2].say(f"terima {number}")
        assert second == [f"{number} sudah berstatus Diterima (terakhir oleh Petugas 1). Tidak ada yang diubah."]
        asked = await people.officers[OFFICER_2].say("6")
        assert asked[-1].startswith(f"{number}: kirim pertanyaan Anda untuk pelapor sebagai pesan berikutnya.")
        await people.officers[OFFICER_2].say("Kapan tepatnya baliho itu dipasang?")
        await people.quiet(lambda: any("Kapan tepatnya baliho" in b for b in twilio.to(REPORTER)))
        await people.reporter.say("Hari Selasa pagi, sekitar jam 7.")
        await people.quiet(lambda: any("Hari Selasa pagi" in b for b in twilio.to(OFFICER_2)))
        assert not any("Hari Selasa pagi" in b for b in twilio.to(OFFICER_1)), "the answer goes to who asked"
        assert any("pelapor menjawab pertanyaan Petugas 2" in b for b in twilio.to(OFFICER_1))
    for officer in (OFFICER_1, OFFICER_2):
        everything = "\n".join(str(m) for m in twilio.sent_to(officer))
        everything += "".join(f.data.decode("latin-1") for f in twilio.media_for(officer))
        assert NAME not in everything and PHONE[1:] not in everything and REPORTER[1:] not in everything
    assert rows(settings, "SELECT status FROM cases") == [("diterima",)]
