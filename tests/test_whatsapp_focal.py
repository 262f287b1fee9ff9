"""Issue 26 end to end: focal points on WhatsApp. Officers' numbers are added from the shell
(and by `/daftar_fokus`), say yes, get the case card with its numbered menu and its evidence
as media that the fake Twilio fetches from the signed URLs, and act by number or by word;
the reporter is on WhatsApp too. Every webhook request is signed as Twilio signs it; every
message out goes through the fake Twilio's REST API."""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from PIL import Image

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
from tests.quiet import until_quiet
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
def settings(telegram: FakeTelegram, twilio: FakeTwilio, backend: Backend, unused_tcp_port: int) -> Settings:
    twilio.fetch_map[PUBLIC] = f"http://127.0.0.1:{unused_tcp_port}"
    return settings_for(
        telegram, backend, public_base_url=PUBLIC, telegram_webhook_secret="tg-secret", admin_telegram_ids=[ADMIN],
        host="127.0.0.1", port=unused_tcp_port, twilio_account_sid=tw.ACCOUNT_SID, twilio_auth_token=tw.AUTH_TOKEN,
        twilio_whatsapp_from=tw.BOT_NUMBER, delivery_poll_seconds=0.05, delivery_backoff_seconds=0.1,
        link_resolve=False, max_messages_per_minute=200, **twilio.settings())


class People:
    """The reporter and the officers, each a WhatsApp number posting signed webhooks."""

    def __init__(self, twilio: FakeTwilio, settings: Settings) -> None:
        url = f"http://127.0.0.1:{settings.port}"
        self.twilio = twilio
        self.settings = settings
        self.base = url
        self.reporter = WhatsAppUser(twilio, url + PATH, PUBLIC + PATH, REPORTER, settings)
        self.officers = {n: WhatsAppUser(twilio, url + PATH, PUBLIC + PATH, n, settings)
                         for n in (OFFICER_1, OFFICER_2, OFFICER_3)}

    async def quiet(self, condition: Any = lambda: True, timeout: float = 15.0) -> None:
        """Until `condition` holds, the service has nothing left to do (`tests/quiet.py`) and
        Twilio has fetched every file it was given a URL for."""
        await until_quiet(self.settings, condition, timeout=timeout)
        await self.twilio.wait_for(self.twilio.idle, timeout)


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
        else:
            raise AssertionError("the service did not start")
    try:
        yield People(twilio, settings)
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
    with inspect_db(people.settings) as db:
        keyed = db.lookup(number)  # an address is stored as its keyed hash
    await people.quiet(lambda: rows(people.settings, "SELECT count(*) FROM outbox WHERE address = ? AND status = 'pending'"
                                    " AND (held_for IS NULL OR leased_until IS NOT NULL)", keyed) == [(0,)])
    invitation = await officer.say("halo")
    assert "Lapor Netral" in invitation[-1] and "1. Ya, saya bersedia" in invitation[-1], invitation
    thanks = await officer.say("ya")
    assert thanks[0].startswith("Terima kasih. Nomor ini sekarang menerima laporan untuk Kota Bontang"), thanks


async def report(people: People, identity: str = "rahasia", photo: bytes | None = None,
                 region: str = "kota bontang") -> str:
    """A whole report on WhatsApp, in Kota Bontang, with a photo; returns its case number."""
    user, twilio = people.reporter, people.twilio
    start = ("mulai",) if twilio.to(REPORTER) else ("halo", "1")  # consent is asked once
    for answer in (*start, region, "Pemerintah daerah", "2", "Dinas Pekerjaan Umum Kota Bontang",
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
        question = next(b for b in twilio.to(REPORTER) if "Kapan tepatnya baliho" in b)
        assert "Petugas 2" not in question and "Inspektorat" not in question and OFFICER_2[1:] not in question, \
            "the reporter is not told who asked"
        await people.reporter.say("Hari Selasa pagi, sekitar jam 7.")
        await people.quiet(lambda: any("Hari Selasa pagi" in b for b in twilio.to(OFFICER_2)))
        assert not any("Hari Selasa pagi" in b for b in twilio.to(OFFICER_1)), "the answer goes to who asked"
        assert any("pelapor menjawab pertanyaan Petugas 2" in b for b in twilio.to(OFFICER_1))
    for officer in (OFFICER_1, OFFICER_2):
        everything = "\n".join(str(m) for m in twilio.sent_to(officer))
        everything += "".join(f.data.decode("latin-1") for f in twilio.media_for(officer))
        assert NAME not in everything and PHONE[1:] not in everything and REPORTER[1:] not in everything
    assert rows(settings, "SELECT status FROM cases") == [("diterima",)]


def window_closed(settings: Settings, *numbers: str) -> None:
    """The officers last wrote two days ago: WhatsApp's 24-hour window is closed."""
    with inspect_db(settings) as db:
        for number in numbers:
            db.execute("UPDATE contacts SET last_inbound_at = '2000-01-01T00:00:00+00:00' WHERE address = ?",
                       (db.lookup(number),))  # an address is stored as its keyed hash


def admin_texts(telegram: FakeTelegram) -> list[str]:
    return [str(p.get("text", "")) for p in telegram.sent("sendMessage", ADMIN)]


async def test_only_officers_who_said_yes_get_anything_and_a_roster_without_one_is_no_route(
        settings: Settings, twilio: FakeTwilio, telegram: FakeTelegram) -> None:
    """Done when: an officer who has not accepted, or who sent STOP, gets nothing; the
    fallback and the moderators' alert apply when nobody in the roster accepted, and the
    first yes brings the case that waited."""
    await add_officers(settings, OFFICER_1, OFFICER_2, OFFICER_3)
    async with service(settings, twilio) as people:
        first = await report(people, "anonim")
        await people.quiet(lambda: any("belum memiliki narahubung" in t or "has no focal point" in t
                                       for t in admin_texts(telegram)) or bool(admin_texts(telegram)))
        assert any(first in t and "narahubung" in t for t in admin_texts(telegram)), admin_texts(telegram)
        assert rows(settings, "SELECT status FROM cases") == [("menunggu_rute",)]
        assert any("menunggu" in b.lower() or "mencari petugas" in b.lower() for b in twilio.to(REPORTER)[-2:])
        assert not any(first in str(m) for n in (OFFICER_1, OFFICER_2, OFFICER_3) for m in twilio.sent_to(n))
        await accept(people, OFFICER_1)  # the first yes: the case that waited goes to them
        await people.quiet(lambda: len(cards(twilio, OFFICER_1)) == 1)
        assert first in cards(twilio, OFFICER_1)[0]
        await accept(people, OFFICER_3)
        stopped = await people.officers[OFFICER_3].say("STOP")
        assert stopped[-1].startswith("Anda tidak akan menerima pesan lagi dari Lapor Netral.")
        await people.quiet(lambda: any("mengirim STOP" in t for t in admin_texts(telegram)))
        second = await report(people, "anonim")
        await people.quiet(lambda: any(second in c for c in cards(twilio, OFFICER_1)) and len(twilio.media_for(OFFICER_1)) == 2)
        assert any("Nomor WhatsApp +6281300000003 (Inspektorat Bontang) mengirim STOP" in t for t in admin_texts(telegram))
    for officer in (OFFICER_2, OFFICER_3):
        assert not any(second in str(m) for m in twilio.sent_to(officer)), officer
        assert twilio.media_for(officer) == []
    assert not any(first in str(m) for m in twilio.sent_to(OFFICER_2)), "an officer who never said yes got nothing"
    assert rows(settings, "SELECT number, status FROM roster_members ORDER BY number") == [
        (OFFICER_1, "active"), (OFFICER_2, "invited"), (OFFICER_3, "stopped")]
    trail = rows(settings, "SELECT action, officer FROM route_events WHERE officer IS NOT NULL ORDER BY id")
    assert ("accepted", OFFICER_1) in trail and ("stopped", OFFICER_3) in trail and ("added", OFFICER_2) in trail


async def test_a_roster_that_nobody_accepted_lets_the_case_fall_back_to_the_province_group(
        settings: Settings, twilio: FakeTwilio, telegram: FakeTelegram) -> None:
    """The fallback chain: the kabupaten/kota's roster has nobody who said yes, so the
    province's Telegram group gets the case; both channels serve once an officer says yes."""
    await add_officers(settings, OFFICER_1)
    said = await shell_routes(settings, "add", "64", -1001000000064, "", "Bawaslu Kaltim")
    assert "Rute ditambahkan" in said, said
    async with service(settings, twilio) as people:
        first = await report(people, "anonim")
        await people.quiet(lambda: any(first in str(p.get("text")) for p in telegram.sent("sendMessage", -1001000000064)))
        assert not any(first in str(m) for m in twilio.sent_to(OFFICER_1))
        await accept(people, OFFICER_1)
        second = await report(people, "anonim")
        await people.quiet(lambda: any(second in c for c in cards(twilio, OFFICER_1)))
        assert not any(second in str(p.get("text")) for p in telegram.sent("sendMessage", -1001000000064)), \
            "the kabupaten/kota's own focal point wins over its province's"


async def test_a_media_url_is_one_file_for_an_hour_and_never_an_original(
        settings: Settings, twilio: FakeTwilio, caplog: pytest.LogCaptureFixture) -> None:
    """Done when: a tampered or expired media URL gets 404; an original file is never
    reachable through it, even signed with the installation's own key."""
    caplog.set_level(logging.INFO, logger="bot.web")
    photo = photo_with_exif_and_comment()
    await add_officers(settings, OFFICER_1)
    async with service(settings, twilio) as people:
        await accept(people, OFFICER_1)
        number = await report(people, "anonim", photo=photo)
        await people.quiet(lambda: len(twilio.media_for(OFFICER_1)) == 1)
        good = twilio.media_for(OFFICER_1)[0].url.replace(PUBLIC, people.base)
        kind, sha, expires, signature, name = good.split("/media/")[1].split("/")
        db = await settings.open_database()
        try:
            key = await keys.media_url_key(db)
        finally:
            await db.close()
        original = hashlib.sha256(photo).hexdigest()
        links = media_links.MediaLinks(people.base)
        async with aiohttp.ClientSession() as http:
            async def status(url: str) -> tuple[int, bytes]:
                async with http.get(url) as response:
                    return response.status, await response.read()

            assert (await status(good))[0] == 200
            flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
            other = number[:-1] + ("A" if number[-1] != "A" else "B")
            for url in (good.replace(signature, flipped),  # a wrong signature
                        good.replace(name, name.replace(number, other)),  # another case's name
                        good.replace(f"/{expires}/", f"/{int(expires) + 3600}/"),  # a longer life
                        good.replace(sha, original),  # the original, under the copy's signature
                        links.url(key, "e", original, name),  # the original, signed with the real key
                        links.url(key, "f", original, f"berkas-{number}.pdf"),
                        links.url(key, "e", sha, name, now=time.time() - 7200)):  # expired an hour ago
                code, body = await status(url)
                assert (code, body) == (404, b"not found"), url
            async with http.get(good.replace("/media/e/", "/media/x/")) as response:
                assert response.status == 404
    assert f"media of {number} (evidence 1) fetched" in caplog.text
    assert OFFICER_1 not in caplog.text and OFFICER_1[1:] not in caplog.text and "127.0.0.1" not in caplog.text


async def test_outside_the_window_the_case_template_stands_for_the_card_and_its_quick_reply_acts(
        settings: Settings, twilio: FakeTwilio) -> None:
    """With TWILIO_CASE_TEMPLATE_SID: a new case for an officer whose window has closed goes
    out as the approved template (number, region, kind; nothing about the reporter), and the
    quick reply's ButtonPayload is honoured."""
    template = "HX" + "2" * 32
    settings = settings.model_copy(update={"twilio_case_template_sid": template})
    await add_officers(settings, OFFICER_1, OFFICER_2)
    async with service(settings, twilio) as people:
        await accept(people, OFFICER_1)
        await accept(people, OFFICER_2)
        window_closed(settings, OFFICER_1)
        number = await report(people, "terbuka")
        await people.quiet(lambda: any(m.get("ContentSid") for m in twilio.sent_to(OFFICER_1))
                           and len(cards(twilio, OFFICER_2)) == 1)
        sent, = [m for m in twilio.sent_to(OFFICER_1) if m.get("ContentSid")]
        assert sent["ContentSid"] == template and "Body" not in sent
        import json

        variables = json.loads(sent["ContentVariables"])
        assert variables == {"1": number, "2": "Kota Bontang, Kalimantan Timur", "3": "Ajakan & bagi-bagi barang"}
        assert not cards(twilio, OFFICER_1) and NAME not in sent["ContentVariables"]
        assert NAME in cards(twilio, OFFICER_2)[0], "an open reporter is named, as in a group"
        tapped = await people.officers[OFFICER_1].send(people.officers[OFFICER_1].form(
            "Terima", ButtonPayload=f"terima {number}", ButtonText="Terima"))
        assert tapped == [f"{number}: Diterima. Pelapor sudah diberi tahu."]
        await people.quiet(lambda: any(f"{number} diterima oleh Petugas 1." in b for b in twilio.to(OFFICER_2)))


async def test_without_a_template_the_card_waits_for_the_officer_and_the_moderators_are_told(
        settings: Settings, twilio: FakeTwilio, telegram: FakeTelegram) -> None:
    """Without a case template a card outside the window is never dropped: it waits (held,
    apart from the backlog), the moderators hear of it once, and it goes out when the
    officer writes. Twilio's 63016 for a card means the same."""
    await add_officers(settings, OFFICER_1, OFFICER_2)
    async with service(settings, twilio) as people:
        await accept(people, OFFICER_1)
        await accept(people, OFFICER_2)
        window_closed(settings, OFFICER_1)
        twilio.errors[f"whatsapp:{OFFICER_2}"] = [63016]  # Twilio says outside the window
        number = await report(people, "anonim")
        await people.quiet(lambda: sum(number in t and "TWILIO_CASE_TEMPLATE_SID" in t
                                       for t in admin_texts(telegram)) == 2)
        assert not cards(twilio, OFFICER_1) and not cards(twilio, OFFICER_2)
        assert rows(settings, "SELECT held_for, count(*) FROM outbox WHERE status = 'pending' GROUP BY held_for") \
            == [("template", 2)]
        got = await people.officers[OFFICER_1].say("bantuan", replies=2)
        assert any(b.startswith(f"*Laporan {number}*") for b in got), got
        await people.quiet(lambda: len(twilio.media_for(OFFICER_1)) == 1)
    alerts = [t for t in admin_texts(telegram) if "TWILIO_CASE_TEMPLATE_SID" in t]
    assert len(alerts) == 2, "told once for each officer, not at every try"


async def test_twilio_21610_ends_the_membership_as_stop_does(
        settings: Settings, twilio: FakeTwilio, telegram: FakeTelegram) -> None:
    await add_officers(settings, OFFICER_1, OFFICER_2)
    async with service(settings, twilio) as people:
        await accept(people, OFFICER_1)
        await accept(people, OFFICER_2)
        twilio.errors[f"whatsapp:{OFFICER_2}"] = [21610]  # they opted out on WhatsApp's side
        first = await report(people, "anonim")
        await people.quiet(lambda: rows(settings, "SELECT status FROM roster_members WHERE number = ?", OFFICER_2)
                           == [("stopped",)] and len(cards(twilio, OFFICER_1)) == 1)
        second = await report(people, "anonim")
        await people.quiet(lambda: len(cards(twilio, OFFICER_1)) == 2)
        asked = await people.officers[OFFICER_1].say("5")  # Tolak, on the last case shown: the second
        assert asked[0].startswith(f"{second}: kirim alasan penolakan sebagai pesan berikutnya.")
        done = await people.officers[OFFICER_1].say("Kejadiannya di luar masa kampanye.")
        assert done == [f"{second} ditolak. Pelapor sudah diberi tahu alasannya."]
        await people.quiet(lambda: any("Kejadiannya di luar masa kampanye." in b for b in twilio.to(REPORTER)))
    assert not any(n in str(m) for m in twilio.sent_to(OFFICER_2) for n in (first, second))
    assert rows(settings, "SELECT number, status FROM cases ORDER BY id") == [(first, "diteruskan"), (second, "ditolak")]
    assert any("+6281300000002" in t and "STOP" in t for t in admin_texts(telegram))


async def test_a_forged_or_unsigned_webhook_from_an_officers_number_is_refused(
        settings: Settings, twilio: FakeTwilio) -> None:
    await add_officers(settings, OFFICER_1)
    async with service(settings, twilio) as people:
        await accept(people, OFFICER_1)
        officer = people.officers[OFFICER_1]
        before = rows(settings, "SELECT count(*) FROM processed_updates")
        form = officer.form("1")
        assert (await officer.post(form, signature="")).status == 403
        assert (await officer.post(form, signature=tw.sign(PUBLIC + PATH, {**form, "Body": "2"}))).status == 403
        assert (await officer.post({**form, "ButtonPayload": "terima LN-26-AAAAA"},
                                   signature=tw.sign(PUBLIC + PATH, form))).status == 403
        await asyncio.sleep(0.3)
        assert rows(settings, "SELECT count(*) FROM processed_updates") == before
        assert rows(settings, "SELECT count(*) FROM inbound_queue") == [(0,)]


async def test_an_officer_types_commands_rejects_and_hands_a_case_over(
        settings: Settings, twilio: FakeTwilio, telegram: FakeTelegram) -> None:
    """kasus, lihat, jejak, berkas and bantuan show the roster's own cases only; Tolak and
    Bukan kewenangan ask for the reason or the region as the next message; a number that
    wants to report is told how; the flood limit counts officers too."""
    other_group = -1001000000065
    await shell_routes(settings, "add", "64.72", other_group, "", "Inspektorat Samarinda")
    await add_officers(settings, OFFICER_1, OFFICER_2)
    async with service(settings, twilio) as people:
        await accept(people, OFFICER_1)
        await accept(people, OFFICER_2)
        elsewhere = await report(people, "anonim", region="kota samarinda")
        mine = await report(people, "rahasia")
        await people.quiet(lambda: len(cards(twilio, OFFICER_1)) == 1)
        o1 = people.officers[OFFICER_1]
        listing = await o1.say("kasus")
        assert mine in listing[0] and elsewhere not in listing[0] and f"lihat {mine}" in listing[0], listing
        view = await o1.say(f"lihat {mine}", replies=2)
        assert view[0].startswith(f"Laporan {mine}") and "Rahasia (hanya diketahui moderator)" in view[0]
        assert NAME not in "".join(view)
        await people.quiet(lambda: len(twilio.media_for(OFFICER_1)) == 2)
        refused = await o1.say(f"lihat {elsewhere}")
        assert refused == [f"Kasus {elsewhere} tidak ditangani kantor Anda."], refused
        trail = await o1.say(f"jejak {mine}")
        assert trail[0].startswith(f"Jejak audit {mine}:") and "status baru → diteruskan" in trail[0], trail
        file_answer = await o1.say(f"berkas {mine}", replies=2)
        assert "sedang disiapkan" in file_answer[0], file_answer
        await people.quiet(lambda: any(f.url.endswith(f"berkas-{mine}.pdf") for f in twilio.media_for(OFFICER_1)))
        pdf = next(f for f in twilio.media_for(OFFICER_1) if f.url.endswith(".pdf"))
        assert pdf.status == 200 and pdf.content_type == "application/pdf" and pdf.data.startswith(b"%PDF")
        from pypdf import PdfReader

        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.data)).pages)
        assert mine in text and NAME not in text
        sent = next(f for f in twilio.media_for(OFFICER_1) if f.url.endswith(f"{mine}-bukti-1.jpg"))
        listed = re.findall(r"\b[0-9a-f]{64}\b", text.split("Jejak audit")[0])
        assert listed == [hashlib.sha256(sent.data).hexdigest()], "the roster reads the hash of the copy it was sent"
        helped = await o1.say("bantuan")
        assert helped[0].startswith("Anda Petugas 1 di Inspektorat Bontang.") and "1 Terima" in helped[0]
        wants = await o1.say("mau lapor")
        assert wants[0].startswith("Nomor ini terdaftar sebagai petugas penerima laporan") and "Telegram" in wants[0]
        photo = await o1.photos(twilio.host("petugas.jpg", photo_with_exif_and_comment(20)))
        assert photo[0].startswith("File yang dikirim dari nomor ini tidak kami terima") and "Telegram" in photo[0]
        assert twilio.cdn_requests.count(("petugas.jpg", None)) == 0, "an officer's file is not even downloaded"
        asked = await o1.say(f"tolak {mine}")
        assert asked[0].startswith(f"{mine}: kirim alasan penolakan sebagai pesan berikutnya.")
        cancelled = await o1.say("batal")
        assert cancelled == ["Dibatalkan. Tidak ada yang diubah."]
        await o1.say("4")  # Bukan kewenangan, on the last case shown
        moved = await o1.say("Kota Samarinda")
        assert moved == [f"Kasus {mine} sedang diteruskan ke wilayah yang Anda sebutkan."], moved
        await people.quiet(lambda: any(mine in str(p.get("text")) for p in telegram.sent("sendMessage", other_group)))
        assert any(f"{mine}: Petugas 1 menyatakan kasus ini bukan kewenangan kita." in b for b in twilio.to(OFFICER_2))
        late = await people.officers[OFFICER_2].say("1")
        assert late == [f"Kasus {mine} tidak ditangani kantor Anda."], late
    assert rows(settings, "SELECT status FROM cases WHERE number = ?", mine) == [("diteruskan",)], "with its new group"
    assert rows(settings, "SELECT p.chat_id < 0, p.active FROM case_posts p JOIN cases c ON c.id = p.case_id"
                          " WHERE c.number = ? ORDER BY p.id", mine) == [(1, 0), (1, 1)]


async def test_the_flood_limit_counts_an_officers_messages(settings: Settings, twilio: FakeTwilio) -> None:
    settings = settings.model_copy(update={"max_messages_per_minute": 3})
    await add_officers(settings, OFFICER_1)
    async with service(settings, twilio) as people:
        officer = people.officers[OFFICER_1]
        await officer.say("halo")
        await officer.say("ya")
        await officer.say("bantuan")
        warned = await officer.say("bantuan")
        assert warned == ["Anda mengirim pesan terlalu cepat. Mohon tunggu satu menit, lalu kirim lagi jawaban "
                          "terakhir Anda."] or "terlalu cepat" in warned[0], warned
        before = len(twilio.to(OFFICER_1))
        response = await officer.post(officer.form("bantuan"))
        assert response.status == 200
        await asyncio.sleep(0.8)
        assert len(twilio.to(OFFICER_1)) == before, "the rest is dropped"


async def test_reminders_reach_every_officer_of_the_roster(settings: Settings, twilio: FakeTwilio) -> None:
    """A case nobody accepted is reminded to the roster as to a group, in words an officer
    on WhatsApp can act on (the worker's own deadline check, with the case routed a day ago)."""
    settings = settings.model_copy(update={"deadline_check_seconds": 0.2})
    await add_officers(settings, OFFICER_1, OFFICER_2)
    async with service(settings, twilio) as people:
        await accept(people, OFFICER_1)
        await accept(people, OFFICER_2)
        number = await report(people, "anonim")
        await people.quiet(lambda: len(cards(twilio, OFFICER_2)) == 1)
        with inspect_db(settings) as db:
            db.execute("UPDATE cases SET routed_at = '2000-01-01T00:00:00+00:00'")
        await people.quiet(lambda: all(any(b.startswith(f"Pengingat: kasus {number}") and f"terima {number}" in b
                                           for b in twilio.to(n)) for n in (OFFICER_1, OFFICER_2)))
    assert rows(settings, "SELECT count(*) FROM case_events WHERE kind = 'reminder'") == [(1,)]


async def test_routes_in_a_shell_take_whatsapp_numbers(settings: Settings, tmp_path: Any) -> None:
    """`routes add|list|remove|import|pending|approve|log` with `whatsapp:+62…`."""
    await add_officers(settings, OFFICER_1)
    listed = await shell_routes(settings, "listing")
    assert "Kota Bontang (64.74) → Inspektorat Bontang [WhatsApp]" in listed
    assert f"Petugas 1 whatsapp:{OFFICER_1} · diundang, belum menjawab" in listed
    sheet = tmp_path / "rute.csv"
    sheet.write_text("region,chat_id,agency,title\n64.74,whatsapp:+6281300000002,,Inspektorat Bontang\n"
                     "64.74,whatsapp:+62,,\n", encoding="utf-8")
    imported = await shell_routes(settings, "import_csv", sheet)
    assert "1 rute ditambahkan" in imported and "baris 3" in imported, imported
    assert "Petugas 2 whatsapp:+6281300000002" in await shell_routes(settings, "listing")
    removed = await shell_routes(settings, "remove", OFFICER_1, None)
    assert f"Nomor WhatsApp {OFFICER_1} tidak lagi menerima laporan." in removed
    log = await shell_routes(settings, "log")
    assert f"added 64.74 → whatsapp:{OFFICER_1}" in log and f"removed 64.74 → whatsapp:{OFFICER_1}" in log
    assert rows(settings, "SELECT number, status FROM roster_members ORDER BY number") == [
        (OFFICER_1, "removed"), ("+6281300000002", "invited")]


MODERATOR = 5151002


@asynccontextmanager
async def polling_service(settings: Settings, twilio: FakeTwilio) -> AsyncIterator[People]:
    """The bot as `run` runs it (Telegram polling, where admins press buttons), with the
    WhatsApp webhook and the media URLs of `serve`."""
    from bot.web import make_web_app, start_site
    from tests.telegram_harness import polling_bot

    async with polling_bot(settings) as runtime:
        assert runtime.db is not None
        site = await start_site(make_web_app(settings, runtime.db, None), settings.host, settings.port)
        try:
            yield People(twilio, settings)
        finally:
            await site.cleanup()


async def test_a_moderators_number_waits_for_an_admin_and_is_invited_only_then(
        settings: Settings, twilio: FakeTwilio, telegram: FakeTelegram) -> None:
    """`/daftar_fokus` takes a WhatsApp number; a moderator's waits for an admin (the
    buttons, or the shell), like a moderator's group: nothing reaches the number before."""
    async with polling_service(settings, twilio) as people:
        before = len(telegram.texts(ADMIN))
        telegram.push(tg.text(ADMIN, f"/tambah_moderator {MODERATOR}"))
        await telegram.wait_messages(ADMIN, before + 1)
        before = len(telegram.texts(MODERATOR))
        telegram.push(tg.text(MODERATOR, f"/daftar_fokus 64.74 {OFFICER_3} Inspektorat Bontang"))
        answer = (await telegram.wait_messages(MODERATOR, before + 1))[-1]
        assert answer.startswith(f"Nomor WhatsApp {OFFICER_3} untuk Kota Bontang (64.74) menunggu persetujuan admin.")
        await telegram.wait_for(lambda: any("Petugas menunggu persetujuan Anda" in t for t in admin_texts(telegram)))
        asked = next(c for c in telegram.calls if c.method == "sendMessage" and str(c.params.get("chat_id")) == str(ADMIN)
                     and "Petugas menunggu persetujuan Anda" in str(c.params.get("text")))
        assert f"User{MODERATOR}" in asked.params["text"] and OFFICER_3 in asked.params["text"]
        telegram.push(tg.text(MODERATOR, f"/daftar_fokus 64.74 {OFFICER_2}"))
        await telegram.wait_messages(MODERATOR, before + 2)
        await asyncio.sleep(0.5)
        assert twilio.sent_to(OFFICER_3) == [] and twilio.sent_to(OFFICER_2) == [], "no invitation before an admin"
        keyboard = asked.params["reply_markup"]["inline_keyboard"]
        data = next(b["callback_data"] for row in keyboard for b in row if b["text"] == "Setujui")
        telegram.push(tg.press(ADMIN, data, asked.result["message_id"], asked.params["text"], keyboard))
        await telegram.wait_for(lambda: any("Petugas sudah diundang" in str(p.get("text"))
                                            for p in telegram.sent("answerCallbackQuery")))
        refused = await shell_routes(settings, "decide", OFFICER_2, approve=False)
        assert refused.startswith(f"Ditolak. Nomor WhatsApp {OFFICER_2} tidak menerima apa pun."), refused
        await accept(people, OFFICER_3)
    assert twilio.sent_to(OFFICER_2) == []
    assert rows(settings, "SELECT action, actor, officer FROM route_events WHERE officer IS NOT NULL ORDER BY id") == [
        ("requested", f"telegram:{MODERATOR}", OFFICER_3), ("requested", f"telegram:{MODERATOR}", OFFICER_3),
        ("requested", f"telegram:{MODERATOR}", OFFICER_2), ("confirmed", f"telegram:{ADMIN}", OFFICER_3),
        ("confirmed", f"telegram:{ADMIN}", OFFICER_3), ("refused", "shell", OFFICER_2),
        ("accepted", "officer:1", OFFICER_3)]


async def test_the_officers_of_a_roster_wait_for_one_cleaning_of_a_file(
        backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each officer's card delivery asks for the photo's cleaned copy at the same moment: it
    is cleaned once, the others wait for it (20 officers took 4.8 s instead of 0.9 s, each
    cleaning a 12-megapixel photo again in the one cleaning worker: bench/whatsapp_roster.py)."""
    from cleaning import Cleaned, stored
    from storage.evidence_files import EvidenceStore

    db = await backend.open()
    try:
        store = EvidenceStore.for_database(db, backend.evidence_dir)
        original = await store.put(photo_with_exif_and_comment())
        store.release([original.sha256])
        calls: list[int] = []
        real = stored.clean_async

        async def counted(data: bytes, mime: str | None) -> Any:
            calls.append(len(data))
            return await real(data, mime)

        monkeypatch.setattr(stored, "clean_async", counted)
        copies = await asyncio.gather(*(stored.cleaned_copy(db, store, original.sha256, "image/jpeg")
                                        for _ in range(20)))
        assert len(calls) == 1
        assert all(isinstance(c, Cleaned) and c.data == copies[0].data for c in copies)  # type: ignore[union-attr]
        assert COMMENT.encode() not in copies[0].data  # type: ignore[union-attr]
    finally:
        await db.close()


async def test_an_officer_who_says_tidak_or_2_gets_nothing_and_the_invitation_comes_again_for_anything_else(
        settings: Settings, twilio: FakeTwilio) -> None:
    """Consent: `tidak` (or the option's number 2) declines, and nothing of a case reaches
    that number afterwards; an answer that is neither brings the invitation again."""
    await add_officers(settings, OFFICER_1, OFFICER_2, OFFICER_3)
    async with service(settings, twilio) as people:
        await accept(people, OFFICER_1)
        o2, o3 = people.officers[OFFICER_2], people.officers[OFFICER_3]
        await o2.say("halo")
        again = await o2.say("mungkin nanti")
        assert "1. Ya, saya bersedia" in again[-1], again
        declined = await o2.say("tidak")
        assert declined[-1].startswith("Baik, nomor ini tidak akan menerima laporan."), declined
        await o3.say("halo")
        assert (await o3.say("2"))[-1].startswith("Baik, nomor ini tidak akan menerima laporan.")
        late = await o2.say("ya")
        assert not late[-1].startswith("Terima kasih"), "a declined number cannot take it back by itself"
        number = await report(people, "anonim")
        await people.quiet(lambda: len(cards(twilio, OFFICER_1)) == 1)
        assert number in cards(twilio, OFFICER_1)[0]
    for officer in (OFFICER_2, OFFICER_3):
        assert not any(number in str(m) for m in twilio.sent_to(officer)) and twilio.media_for(officer) == []
    assert rows(settings, "SELECT number, status FROM roster_members ORDER BY number") == [
        (OFFICER_1, "active"), (OFFICER_2, "declined"), (OFFICER_3, "declined")]


GROUP_BONTANG = -1001000000074
GROUP_OFFICER = 7701003


async def test_a_roster_and_a_telegram_group_of_one_region_both_get_the_case_and_see_each_other_act(
        settings: Settings, twilio: FakeTwilio, telegram: FakeTelegram) -> None:
    """A Telegram group and a WhatsApp roster serve Kota Bontang: both get the case. The
    group's Terima reaches each officer of the roster as one line; an officer's Selesai
    edits the group's card (one desk, two channels)."""
    said = await shell_routes(settings, "add", "64.74", GROUP_BONTANG, "", "Bawaslu Bontang")
    assert "Rute ditambahkan" in said, said
    await add_officers(settings, OFFICER_1, OFFICER_2)
    async with polling_service(settings, twilio) as people:
        await accept(people, OFFICER_1)
        await accept(people, OFFICER_2)
        number = await report(people, "rahasia")

        def group_cards() -> list[Any]:
            return [c for c in telegram.calls if c.method == "sendMessage" and c.result
                    and str(c.params.get("chat_id")) == str(GROUP_BONTANG)
                    and str(c.params.get("text", "")).startswith("<b>Laporan")]

        await until_quiet(settings, lambda: bool(group_cards()) and all(cards(twilio, n) for n in (OFFICER_1, OFFICER_2)),
                          telegram)
        card = group_cards()[0].result
        assert number in card["text"] and NAME not in card["text"]
        data = next(b["callback_data"] for row in card["reply_markup"]["inline_keyboard"] for b in row
                    if b["callback_data"].endswith(":accept"))
        telegram.push(tg.group_press(GROUP_BONTANG, data, card, GROUP_OFFICER))
        await until_quiet(settings, lambda: all(any(f"{number} diterima oleh" in b for b in twilio.to(n))
                                                for n in (OFFICER_1, OFFICER_2)), telegram)
        edits = len(telegram.sent("editMessageText", GROUP_BONTANG))
        done = await people.officers[OFFICER_1].say("3")
        assert done[0].startswith(f"{number}: Selesai"), done
        await until_quiet(settings, lambda: len(telegram.sent("editMessageText", GROUP_BONTANG)) > edits, telegram)
        assert "Selesai" in str(telegram.sent("editMessageText", GROUP_BONTANG)[-1].get("text"))
        await people.quiet(lambda: any(f"{number} diselesaikan oleh Petugas 1." in b for b in twilio.to(OFFICER_2)))
    assert rows(settings, "SELECT status FROM cases") == [("selesai",)]
    assert rows(settings, "SELECT count(*) FROM case_posts WHERE active = 1") == [(2,)]


async def test_a_number_that_is_not_on_whatsapp_leaves_the_roster_and_its_case_goes_down_the_fallback_chain(
        settings: Settings, twilio: FakeTwilio, telegram: FakeTelegram) -> None:
    """Twilio says the only officer who said yes is no WhatsApp number (21211 on the card):
    before, the officer stayed in the roster, every card to them failed, and the case sat
    with a roster nobody receives, the moderators never told. Now the officer leaves the
    roster (the admins are told why), and the case that reached nobody goes to the
    province's group, as a roster nobody is in counts as no route."""
    province = -1001000000064
    await shell_routes(settings, "add", "64", province, "", "Bawaslu Kaltim")
    await add_officers(settings, OFFICER_1)
    async with service(settings, twilio) as people:
        await accept(people, OFFICER_1)
        twilio.errors[f"whatsapp:{OFFICER_1}"] = [21211]
        number = await report(people, "anonim")
        await people.quiet(lambda: any(number in str(p.get("text")) for p in telegram.sent("sendMessage", province)))
        assert any(f"Nomor WhatsApp {OFFICER_1} (Inspektorat Bontang) tidak dapat dihubungi" in t
                   for t in admin_texts(telegram)), admin_texts(telegram)
        assert any(t.startswith("WhatsApp: Inspektorat Bontang tidak punya petugas lagi yang menerima kasusnya.")
                   for t in admin_texts(telegram)), admin_texts(telegram)
    assert rows(settings, "SELECT status FROM roster_members") == [("stopped",)]
    assert rows(settings, "SELECT status FROM cases") == [("diteruskan",)]
    assert not cards(twilio, OFFICER_1)


async def test_a_card_twilio_refuses_tells_the_moderators_which_officer_of_which_roster(
        settings: Settings, twilio: FakeTwilio, telegram: FakeTelegram) -> None:
    """A card Twilio refuses for good (400, a code that is neither the window nor a gone
    number): before, the alert said "could not be posted to group 6281300000002" (an
    officer's number read as a group's id); now it names the officer by their place and the
    roster by its title, and the error without the number."""
    await add_officers(settings, OFFICER_1, OFFICER_2)
    async with service(settings, twilio) as people:
        await accept(people, OFFICER_1)
        await accept(people, OFFICER_2)
        twilio.errors[f"whatsapp:{OFFICER_2}"] = [21620]
        number = await report(people, "anonim")
        await people.quiet(lambda: any(number in t for t in admin_texts(telegram)) and bool(cards(twilio, OFFICER_1)))
    alert, = [t for t in admin_texts(telegram) if number in t or "tidak dapat dikirim" in t]
    assert alert.startswith(f"Kasus {number} tidak dapat dikirim ke Petugas 2 di WhatsApp: Inspektorat Bontang: "
                            "twilio 400 21620"), alert
    assert OFFICER_2[1:] not in alert and "grup" not in alert
    assert rows(settings, "SELECT status FROM roster_members ORDER BY number") == [("active",), ("active",)]


async def test_a_retry_after_to_one_officer_is_a_floor_for_that_number_only(
        settings: Settings, twilio: FakeTwilio) -> None:
    """Issue 25's lanes with a roster: Twilio answers 429 with Retry-After 2 to officer 2's
    card. Officer 1's card goes at once; nothing reaches officer 2 before the 2 s are over,
    not even the answer to what they type meanwhile (which would otherwise wake their
    number); then the card and that answer come, in order."""
    await add_officers(settings, OFFICER_1, OFFICER_2)
    async with service(settings, twilio) as people:
        await accept(people, OFFICER_1)
        await accept(people, OFFICER_2)
        before = len(twilio.sent_to(OFFICER_2))
        twilio.retry_after_to[f"whatsapp:{OFFICER_2}"] = [2]
        arrived: list[float] = []

        async def first_to_officer_2() -> None:
            while len(twilio.sent_to(OFFICER_2)) == before:
                await asyncio.sleep(0.01)
            arrived.append(time.monotonic())

        watcher = asyncio.create_task(first_to_officer_2())
        number = await report(people, "anonim")
        await twilio.wait_for(lambda: bool(twilio.refused_to.get(f"whatsapp:{OFFICER_2}")))
        refused = twilio.refused_to[f"whatsapp:{OFFICER_2}"][0]
        await until_quiet(settings, lambda: len(cards(twilio, OFFICER_1)) == 1, chat=("whatsapp", OFFICER_1))
        assert number in cards(twilio, OFFICER_1)[0], "officer 1 is not held up by officer 2's floor"
        officer = people.officers[OFFICER_2]
        assert (await officer.post(officer.form("bantuan"))).status == 200  # wakes the number, not its floor
        await asyncio.wait_for(watcher, 15)
        assert arrived[0] >= refused + 2 - 0.05, f"officer 2 was written to {refused + 2 - arrived[0]:.2f} s early"
        await people.quiet(lambda: len(twilio.to(OFFICER_2)) >= before + 2)
        got = twilio.to(OFFICER_2)[before:]
        assert got[0].startswith(f"*Laporan {number}*") and got[-1].startswith("Anda Petugas 2"), got


async def test_two_installations_in_one_process_each_record_their_cleaned_copy(tmp_path: Any) -> None:
    """The one-cleaning wait is per database: two installations open in one process (a
    test, migrate-db) cleaning the same photo at the same moment each record their own
    copy (before, the second took the first's result and recorded nothing)."""
    from cleaning import Cleaned, stored
    from storage import cleaned_files
    from storage.evidence_files import EvidenceStore

    photo = photo_with_exif_and_comment(33)
    opened = [await Database.open(tmp_path / f"{name}.db") for name in ("a", "b")]
    try:
        stores = [EvidenceStore.for_database(db, tmp_path / f"files-{n}") for n, db in enumerate(opened)]
        shas = [(await store.put(photo)).sha256 for store in stores]
        copies = await asyncio.gather(*(stored.cleaned_copy(db, store, sha, "image/jpeg")
                                        for db, store, sha in zip(opened, stores, shas)))
        assert all(isinstance(c, Cleaned) for c in copies)
        for db, sha in zip(opened, shas):
            async with db.reading() as tx:
                known = await cleaned_files.get(tx, sha)
            assert known is not None and known.clean_sha256 is not None
    finally:
        for db in opened:
            await db.close()


async def test_an_officers_odd_digits_get_an_answer_not_a_crash(settings: Settings, twilio: FakeTwilio) -> None:
    """A superscript or another script's digit is a digit to str.isdigit but no number to
    int(): an officer typing "²" crashed the handler, and the message was tried again and
    again with no answer. Now it is not understood (and an Arabic-Indic "١" is 1)."""
    await add_officers(settings, OFFICER_1)
    async with service(settings, twilio) as people:
        await accept(people, OFFICER_1)
        number = await report(people, "anonim")
        await people.quiet(lambda: len(cards(twilio, OFFICER_1)) == 1)
        officer = people.officers[OFFICER_1]
        for odd in ("²", "⁵", "1" * 50):
            answer = await officer.say(odd)
            assert answer[0].startswith("Maaf, saya tidak mengerti pesan itu."), (odd[:5], answer)
        assert await officer.say("١") == [f"{number}: Diterima. Pelapor sudah diberi tahu."]
    assert rows(settings, "SELECT count(*) FROM inbound_queue WHERE status = 'pending'") == [(0,)]


def test_a_media_url_with_odd_digits_in_its_expiry_is_refused_not_an_error() -> None:
    """"²" passed str.isdigit and then failed int(): the media server answered 500."""
    key = b"k" * 32
    links = media_links.MediaLinks(PUBLIC)
    sha = "a" * 64
    url = links.url(key, "e", sha, "LN-26-AAAAA-bukti-1.jpg")
    kind, _sha, expires, signature, name = url.split("/media/")[1].split("/")
    assert media_links.verify(key, kind, sha, expires, signature, name) is not None
    for odd in ("²" * 10, expires[:-1] + "²", "١" * 10):
        assert media_links.verify(key, kind, sha, odd, signature, name) is None
