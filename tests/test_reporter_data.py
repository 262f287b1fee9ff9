"""Issue 12: reporter data from start to end. Whole WhatsApp files, downloaded only with
the credentials where they belong; nothing stored for a chat that has not agreed or is
over the limits; `/hapus_data` and retention that leave nothing behind; forms over the
limits answered; Twilio's Retry-After honoured; one slow number never holds another.

WhatsApp goes through `serve` with webhook requests signed as Twilio signs them, media from
the fake Twilio's https host behind a redirect to its file host, in small chunks."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from PIL import Image

from bot.config import Settings
from tests.backends import Backend, evidence_of, inspect_db
from tests.fake_telegram import FakeTelegram
from tests.fake_twilio import FakeTwilio, WhatsAppUser
from tests.quiet import until_quiet
from tests.test_focal_points import jpeg_with_gps
from tests.test_whatsapp import NUMBER, register_group, report_until_evidence, rows, server, settings  # noqa: F401  (fixtures)

STRANGER = "+6281311112222"
OTHER = "+6281333334444"
KB, MB = 1024, 1024 * 1024


def noise(size: int, seed: int) -> bytes:
    """Incompressible bytes of an exact size (a video, as far as the download can tell)."""
    block = hashlib.sha256(f"seed-{seed}".encode()).digest()
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(block + counter.to_bytes(8, "big")).digest() * 64
        counter += 1
    return bytes(out[:size])


def draft_evidence(settings: Settings, number: str = NUMBER) -> list[dict[str, object]]:

    with inspect_db(settings) as db:
        found = db.draft(number)
    return list(found["draft"]["evidence"]) if found else []


async def media_message(user: WhatsAppUser, urls: list[str], content_type: str = "image/jpeg",
                        replies: int = 1) -> list[str]:
    extra = {"NumMedia": str(len(urls))}
    for n, url in enumerate(urls):
        extra[f"MediaUrl{n}"], extra[f"MediaContentType{n}"] = url, content_type
    return await user.send(user.form("", **extra), replies=replies, timeout=60)


# --- 1. whole, bounded, authenticated downloads ---------------------------------------------

@pytest.mark.timeout(300)
async def test_whatsapp_files_of_real_sizes_are_stored_whole_and_the_one_over_20_mb_is_explained(
        settings: Settings, twilio: FakeTwilio) -> None:
    """Regression: `content.read(MAX + 1)` returned what was buffered (a 1 MB photo was cut to
    64 KB, with the wrong SHA-256)."""
    photo = jpeg_with_gps(10) + noise(MB - 2000, 1)  # a real JPEG, padded to a phone photo's size
    sizes = {"small.bin": noise(KB, 2), "photo.jpg": photo, "big.mp4": noise(19 * MB, 3)}
    urls = [twilio.host(name, data, "video/mp4" if name.endswith("mp4") else "image/jpeg",
                        chunked=name == "big.mp4") for name, data in sizes.items()]
    too_big = twilio.host("huge.mp4", noise(21 * MB, 4), "video/mp4", chunked=True)
    too_big_sized = twilio.host("huge2.mp4", noise(21 * MB, 5), "video/mp4")
    async with server(settings, twilio) as user:
        await report_until_evidence(user)
        got = await media_message(user, urls)
        assert "3 bukti sudah masuk (paling banyak 10)" in got[-1]
        for url in (too_big, too_big_sized):
            refused = await media_message(user, [url], "video/mp4")
            assert "20 MB" in refused[-1], refused
    stored = draft_evidence(settings)
    assert [(e["sha256"], e["size"]) for e in stored] == [
        (hashlib.sha256(d).hexdigest(), len(d)) for d in sizes.values()]
    on_disk = evidence_of(settings).values()
    assert sorted(hashlib.sha256(data).hexdigest() for data in on_disk) == sorted(
        hashlib.sha256(d).hexdigest() for d in sizes.values()), "whole files, nothing of the 21 MB ones, no temp files"
    assert all(auth is None for _name, auth in twilio.cdn_requests), "a redirect never carries the credentials"


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[str, list[str | None]]]:
    """A plain-http host that records the Authorization header of every request to it."""
    seen: list[str | None] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.Response(body=b"x" * 100, content_type="image/jpeg")

    app = web.Application()
    app.router.add_get("/{tail:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"{port}", seen
    await runner.cleanup()


async def test_credentials_go_only_over_https_to_the_api_host(
        settings: Settings, twilio: FakeTwilio, recorder: tuple[str, list[str | None]]) -> None:
    """Regression: the Authorization header went to whatever `MediaUrl` named, over plain http too."""
    port, seen = recorder
    async with server(settings, twilio) as user:
        await report_until_evidence(user)
        for url in (f"http://localhost:{port}/media/x",  # the API host's name, but over http
                    f"http://127.0.0.1:{port}/media/y",  # another host
                    f"{twilio.cdn_base}/media/z"):  # https, but not the API host
            answer = await media_message(user, [url])
            assert answer, url
    assert all(header is None for header in seen), seen
    assert [auth for name, auth in twilio.media_requests if name == "z"] in ([], [False]), \
        "https to a host that is not Twilio's API gets no credentials"


@pytest.fixture
async def private_host() -> AsyncIterator[tuple[str, list[str]]]:
    """A server on another loopback address (127.0.0.2), as an internal service would be."""
    hits: list[str] = []

    async def record(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(body=b"internal secret", content_type="image/jpeg")

    app = web.Application()
    app.router.add_get("/{tail:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.2", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.2:{port}", hits
    await runner.cleanup()


async def test_a_redirect_to_a_private_or_loopback_address_is_refused(
        settings: Settings, twilio: FakeTwilio, private_host: tuple[str, list[str]]) -> None:
    """Regression: redirects were followed to any address (an internal service, the cloud
    metadata address)."""
    base, hits = private_host
    twilio.redirects.update({"to-loopback": f"{base}/admin", "to-metadata": "http://169.254.169.254/latest/meta-data/",
                             "to-private": "http://10.11.12.13/x", "to-v6": "http://[::ffff:127.0.0.2]/x"})
    twilio.media.update({name: (b"", "image/jpeg") for name in twilio.redirects})
    async with server(settings, twilio) as user:
        await report_until_evidence(user)
        for name in twilio.redirects:
            answer = await media_message(user, [f"{twilio.media_base}/media/{name}"])
            assert "tidak sampai" in answer[-1], answer
    assert hits == [], "nothing was asked of the private address"
    assert draft_evidence(settings) == []


# --- 2. nothing stored before consent or beyond the limits ----------------------------------

async def test_a_stranger_sending_40_files_leaves_no_file_on_disk(settings: Settings, twilio: FakeTwilio) -> None:
    """Regression: a number that never agreed to the terms sent 40 files, and all 40 were stored."""
    stranger = settings.model_copy(update={"max_messages_per_minute": 2})
    urls = [twilio.host(f"s{n}.jpg", jpeg_with_gps(n)) for n in range(40)]
    async with server(stranger, twilio, STRANGER) as user:
        for batch in range(4):
            await user.post(user.form("", NumMedia="10", **{
                k: v for n, url in enumerate(urls[batch * 10:batch * 10 + 10])
                for k, v in ((f"MediaUrl{n}", url), (f"MediaContentType{n}", "image/jpeg"))}))
        await twilio.wait_for(lambda: bool(twilio.to(STRANGER)))
        await until_quiet(settings)  # every message handled, every answer out
    assert evidence_of(settings) == {}
    assert twilio.media_requests == [], "nothing was even downloaded"


async def test_files_over_the_flood_limit_are_not_stored(settings: Settings, twilio: FakeTwilio) -> None:
    """Regression: files past the flood limit were written although the messages were dropped."""
    limited = settings.model_copy(update={"max_messages_per_minute": 18})
    urls = [twilio.host(f"f{n}.jpg", jpeg_with_gps(n * 7)) for n in range(6)]
    async with server(limited, twilio) as user:
        await report_until_evidence(user)  # 16 messages
        for url in urls:
            await user.post(user.form("", NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg"))
        await until_quiet(settings)  # every message handled, every answer out
    kept = draft_evidence(settings)
    assert len(kept) == 2, "two messages fit under the limit"
    assert sorted(evidence_of(settings)) == sorted(str(e["sha256"]) for e in kept)


def console(backend: Backend, lines: list[str]) -> str:
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_", "DATABASE_"))}
    env.update(backend.env())
    return subprocess.run([sys.executable, "-m", "bot", "console"], input="\n".join(lines) + "\n",
                          capture_output=True, text=True, env=env, cwd=backend.tmp_path, timeout=60, check=True).stdout


UNTIL_EVIDENCE = ["halo", "1", "denpasar", "1", "8", "SMPN 1 Denpasar", "Budi Santoso", "Kepala Sekolah",
                  "1", "2", "19/11/2024", "2", "Ruang guru", "lokasi -8.65, 115.21",
                  "Kepala sekolah mengunggah ajakan memilih paslon 2 di grup WhatsApp guru.", "1"]


@pytest.mark.slow  # the console as a process
def test_the_console_stores_only_the_files_it_keeps_and_remove_all_deletes_them(backend: Backend) -> None:
    """Regression: 11 files were all written although "2 file tidak disimpan" was said, and
    "Hapus semua file" left the files on disk."""
    tmp_path = backend.tmp_path
    paths = []
    for n in range(12):
        path = tmp_path / f"foto{n}.jpg"
        path.write_bytes(jpeg_with_gps(n * 20))
        paths.append(str(path))
    out = console(backend, [*UNTIL_EVIDENCE, paths[0], " ".join(paths[1:])])
    assert "2 bukti tidak disimpan" in out
    with backend.connect() as db:
        (address,), = db.execute("SELECT address FROM conversations").fetchall()
        assert bytes(address) == db.lookup("terminal"), "the console's chat, found by its keyed hash"
        kept = {e["sha256"] for e in db.draft("terminal")["draft"]["evidence"]}
    assert len(kept) == 10
    assert set(stored_evidence(backend)) == kept
    out = console(backend, ["2", "1"])  # "Hapus semua file", then yes
    assert "10 bukti dihapus" in out, out[-800:]
    assert stored_evidence(backend) == {}, "the draft's files are gone"


# --- 3. erasure leaves nothing ----------------------------------------------------------------

NAME, TYPED_PHONE = "Siti Aminah", "081234567890"
TRACES = (NAME.encode(), b"6281234567890", TYPED_PHONE.encode(), NUMBER[1:].encode())


def scan(settings: Settings) -> list[str]:
    """Which traces of the identity the bytes of the database, its WAL and the evidence hold
    (PostgreSQL: every row of every table, and the evidence chunks)."""
    with inspect_db(settings) as db:
        if settings.database_url:
            sources = [("database", "\n".join(db.iterdump()).encode())]
        else:
            sources = [(p.name, p.read_bytes())
                       for p in settings.database_path.parent.glob(settings.database_path.name + "*")]
        # and what the key opens: an erasure must leave nothing readable even to the key's holder
        sources += [("database, opened", "\n".join(db.opened_dump()).encode())]
        sources += list(db.evidence(settings.evidence_dir).items())
    found = []
    for name, data in sources:
        found += [f"{name}: {t!r}" for t in TRACES if t in data]
    return found


def has_gps(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return bool(image.getexif().get_ifd(0x8825)) or 0x8825 in image.getexif()
    except Exception:
        return False


@pytest.mark.timeout(180)
async def test_hapus_data_while_running_leaves_no_identity_in_the_database_its_wal_or_the_files(
        settings: Settings, twilio: FakeTwilio, telegram: FakeTelegram) -> None:
    """Regression: the -wal kept the erased name, phone and chat id; the original photo (GPS
    included) stayed in the evidence store; the "Done" message was marked failed by the
    erasure it announced."""
    await register_group(settings)
    photo = jpeg_with_gps(90)
    url = twilio.host("gps.jpg", photo)
    async with server(settings, twilio) as user:
        await report_until_evidence(user)
        await media_message(user, [url])
        await user.say("1")  # done with evidence
        await user.say("2")  # confidential: name and phone
        await user.say(NAME)
        await user.say(TYPED_PHONE)
        done = await user.say("1")  # send
        assert "LN-" in done[0]
        await twilio.wait_for(lambda: any("telah diteruskan" in m for m in twilio.to(NUMBER)))
        assert any(has_gps(data) for data in evidence_of(settings).values())
        ask = await user.say("hapus_data")
        assert "Hapus data Anda?" in ask[-1]
        confirm = await user.say("1")
        assert confirm[-1].startswith("» Ya, hapus data saya\n\nSelesai."), confirm
        assert "kabar" in confirm[-1], "it says that case news stops"
        for _ in range(1000):  # the sent confirmation is recorded, then forgets its address, and
            traces = scan(settings)  # after the commit the originals give way to cleaned copies
            files = list(evidence_of(settings).values())  # (while the service runs: the WAL is live)
            if not traces and photo not in files:
                break
            await asyncio.sleep(0.01)
    assert traces == []
    assert photo not in files and not any(has_gps(f) for f in files), "only the cleaned copy is kept"
    (sha,), = rows(settings, "SELECT sha256 FROM evidence")
    assert sha == hashlib.sha256(photo).hexdigest(), "the original's SHA-256 stays on record"
    assert rows(settings, "SELECT count(*) FROM outbox WHERE status = 'failed' AND last_error = 'erased'") == [(0,)]


# --- 4. retention on a clock the tests move -----------------------------------------------------

async def test_retention_leaves_no_identity_in_any_table(backend: Backend) -> None:
    """Regression: the purge cleared only the case columns; the sent outbox rows kept the summary
    with name and phone, `reporters.address` the chat id, `inbound_queue` the WhatsApp numbers, and
    `processed_updates` grew without end."""
    from bot.delivery import DeliveryWorker
    from flows.case import lifecycle
    from flows.engine import Engine
    from flows.policy import Policy
    from storage import cases, inbound_queue, outbox
    from storage.evidence_files import EvidenceStore
    from tests.chat import HAPPY_PATH, Chat

    db = await backend.open()
    store = EvidenceStore.for_database(db, backend.evidence_dir)
    policy = Policy(retention=timedelta(days=365))
    engine = Engine(db, policy=policy, outbox_channels=frozenset({"test"}), store=store)
    chat = Chat(engine, address="555000111")
    await chat.run(*HAPPY_PATH, "@send")
    idle = Chat(engine, address="555000222")  # a draft nobody finishes, with a file
    idle.now = chat.now
    await idle.run(*HAPPY_PATH[:20])
    async with db.transaction() as tx:
        case = (await cases.recent(tx, 1))[0]
        await lifecycle.force_status(tx, policy, case, "selesai", lifecycle.Actor("telegram:2", "M"),
                                     chat.now.isoformat())
        await tx.execute("UPDATE outbox SET status = 'sent', done_at = ?", (chat.now.isoformat(),))
        await inbound_queue.add(tx, "whatsapp", "+6281277778888", "SM1", {"Body": "halo"}, chat.now.isoformat())
        # processed as the old code left it: done, with the number
        await tx.execute("UPDATE inbound_queue SET status = 'done', payload = ?",
                         (inbound_queue.INBOUND_QUEUE.seal(tx, "payload", "{}"),))
    with backend.connect() as inspector:
        assert "Siti Aminah" in "\n".join(inspector.opened_dump())

    clock = [chat.now + timedelta(days=400)]
    worker = DeliveryWorker(db, policy, {}, clock=lambda: clock[0], store=store)
    await worker.run_jobs()
    await db.close()
    with backend.connect() as inspector:
        dump = "\n".join(inspector.opened_dump())  # with the key: nothing left to open
    for trace in ("Siti Aminah", "6281234567890", "555000111", "555000222", "6281277778888"):
        assert trace not in dump, trace
    assert rows_of(backend, "SELECT count(*) FROM processed_updates") == [(0,)]
    assert rows_of(backend, "SELECT count(*) FROM conversations") == [(0,)], "the idle draft is gone"
    kept = {r[0] for r in rows_of(backend, "SELECT sha256 FROM evidence")}
    assert set(stored_evidence(backend)) <= kept, "the idle draft's files went too"
    assert rows_of(backend, "SELECT count(*) FROM cases") == [(1,)], "the case itself stays"
    _ = outbox  # imported for the table it names


def rows_of(backend: Backend, sql: str) -> list[tuple[object, ...]]:
    with backend.connect() as db:
        return db.execute(sql).fetchall()


def stored_evidence(backend: Backend) -> dict[str, bytes]:
    with backend.connect() as db:
        return db.evidence(backend.evidence_dir)


# --- 6. refused messages are answered ------------------------------------------------------------

async def test_an_over_long_whatsapp_message_is_answered_not_refused(settings: Settings, twilio: FakeTwilio) -> None:
    """Regression: a body over 10,000 characters got a bare 400: Twilio does not retry, and the
    person heard nothing."""
    async with server(settings, twilio) as user:
        await user.say("halo")
        answer = await user.send(user.form("panjang " * 2000))
        assert "terlalu panjang" in answer[-1] and "beberapa bagian" in answer[-1]
        forged = await user.post({"MessageSid": "SMx", "From": ""})
        assert forged.status in (400, 403)
    with inspect_db(settings) as db:
        assert not any("panjang panjang" in line for line in db.opened_dump() if line.startswith("inbound_queue"))


# --- 7. Retry-After ------------------------------------------------------------------------------

async def test_twilio_retry_after_is_honoured(settings: Settings, twilio: FakeTwilio) -> None:
    """Regression: a 429's Retry-After was ignored and the worker came back after its own backoff."""
    twilio.retry_after.append(3)
    async with server(settings, twilio) as user:
        before = datetime.now().astimezone()
        await user.post(user.form("halo"))
        await twilio.wait_for(lambda: twilio.attempts >= 1)
        await twilio.wait_for(lambda: bool(rows(settings, "SELECT 1 FROM outbox WHERE last_error IS NOT NULL")))
        (due,), = rows(settings, "SELECT next_attempt_at FROM outbox WHERE last_error IS NOT NULL")
        assert datetime.fromisoformat(due) >= before + timedelta(seconds=3), due
        await twilio.wait_for(lambda: bool(twilio.to(NUMBER)), timeout=15)


# --- issue 14: one slow number never holds another ---------------------------------------------------

async def test_a_slow_download_for_one_number_does_not_hold_another_numbers_messages(
        settings: Settings, twilio: FakeTwilio) -> None:
    slow = twilio.host("slow.jpg", jpeg_with_gps(3))
    twilio.holds["slow.jpg"] = asyncio.Event()
    async with server(settings, twilio) as user:
        await report_until_evidence(user)
        await user.post(user.form("", NumMedia="1", MediaUrl0=slow, MediaContentType0="image/jpeg"))
        await twilio.wait_for(lambda: any(name == "slow.jpg" for name, _ in twilio.cdn_requests))
        other = WhatsAppUser(twilio, user.webhook_url, user.public_url, OTHER, user.service)
        welcome = await other.say("halo")
        assert "Selamat datang" in welcome[-1], "the other number is answered while the download hangs"
        again = await other.say("1")
        assert "provinsi" in again[-1].lower(), "and its next message too, in order"
        assert not any("1 bukti sudah masuk" in m for m in twilio.to(NUMBER)[-1:])
        twilio.holds["slow.jpg"].set()
        await twilio.wait_for(lambda: any("1 bukti sudah masuk" in m for m in twilio.to(NUMBER)))


async def test_the_clean_up_deletes_files_nothing_refers_to_after_the_grace_period(backend: Backend) -> None:
    """Deliver 2: files no evidence row or draft refers to go after an hour; others stay."""
    from dataclasses import replace

    from flows import retention
    from flows.engine import Engine
    from flows.policy import Policy
    from storage import conversations
    from storage.evidence_files import EvidenceStore
    from tests.chat import HAPPY_PATH, Chat

    db = await backend.open()
    store = EvidenceStore.for_database(db, backend.evidence_dir)
    engine = Engine(db, store=store)
    chat = Chat(engine, address="555000333")
    await chat.run(*HAPPY_PATH[:20])  # a draft with files (their rows name no file on disk)
    kept = draft_evidence_of(backend, "555000333")
    in_draft = [await store.put(f"draft file {n}".encode()) for n in range(2)]
    async with db.transaction() as tx:  # the draft refers to these two files
        import json

        stored = await conversations.load(tx, chat.channel, chat.address)
        assert stored is not None
        conv = json.loads(stored.data)
        conv["draft"]["evidence"] = [{**kept[0], "sha256": f.sha256} for f in in_draft]
        await conversations.save_many(tx, [replace(stored, data=json.dumps(conv))])
    old_orphan = await store.put(b"left by a crash between the download and the step")
    fresh_orphan = await store.put(b"just downloaded, its step not recorded yet")
    store.release([f.sha256 for f in (*in_draft, old_orphan, fresh_orphan)])
    hour_ago = (chat.now - timedelta(hours=2)).timestamp()  # on the test's clock
    with backend.connect() as inspector:
        for stored in (*in_draft, old_orphan):
            inspector.age_evidence(backend.evidence_dir, stored.sha256, hour_ago)
    await leave_partial_upload(db, store, b"half a download", hour_ago)
    assert any(name.startswith("tmp/") for name in stored_evidence(backend))
    await retention.run(db, Policy(), chat.now + timedelta(minutes=5), store)
    await db.close()
    left = set(stored_evidence(backend))
    assert left == {in_draft[0].sha256, in_draft[1].sha256, fresh_orphan.sha256}


async def leave_partial_upload(db: Any, store: Any, data: bytes, at: float) -> None:
    """What a download cut off by a crash leaves in the store: bytes never named, last
    written at `at`."""
    from storage.evidence_files import CHUNK_BYTES

    writer = store.blobs.writer()
    await writer.write(data * (CHUNK_BYTES // len(data) + 1))  # more than one chunk: some of it is stored
    if backend_is_postgres(db):
        from datetime import UTC

        async with db.transaction() as tx:
            await tx.execute("UPDATE evidence_chunks SET written_at = ? WHERE upload = ?",
                             (datetime.fromtimestamp(at, UTC).isoformat(), writer.upload))
    else:
        writer._handle().close()
        os.utime(writer.tmp, (at, at))


def backend_is_postgres(db: Any) -> bool:
    return db.dialect.name == "postgresql"


def draft_evidence_of(backend: Backend, address: str) -> list[dict[str, object]]:

    with backend.connect() as db:
        return list(db.draft(address)["draft"]["evidence"])


async def test_the_clean_up_keeps_the_cleaned_copy_of_a_case_file(backend: Backend) -> None:
    """A cleaned copy is stored under its own SHA-256 and linked from the original's
    (`cleaning.stored`); no evidence row names it, yet the orphan sweep must leave it, and
    after the reporter's erasure it is all that stays of the file."""
    from cleaning import Cleaned
    from cleaning.stored import cleaned_copy
    from flows import retention
    from flows.engine import Engine
    from flows.policy import Policy
    from flows.reporter import data_rights
    from storage import privacy
    from storage.evidence_files import EvidenceStore
    from tests.chat import HAPPY_PATH, Chat

    db = await backend.open()
    store = EvidenceStore.for_database(db, backend.evidence_dir)
    chat = Chat(Engine(db, store=store), address="555000444")
    await chat.run(*HAPPY_PATH, "@send")
    photo = jpeg_with_gps(40)
    original = await store.put(photo)
    store.release([original.sha256])
    async with db.transaction() as tx:
        await tx.execute("UPDATE evidence SET sha256 = ?, mime = 'image/jpeg' WHERE position = 1", (original.sha256,))
    copy = await cleaned_copy(db, store, original.sha256, "image/jpeg")
    assert isinstance(copy, Cleaned) and not has_gps(copy.data)
    copy_sha = hashlib.sha256(copy.data).hexdigest()
    two_hours_later = chat.now + timedelta(hours=2)
    with backend.connect() as inspector:
        for sha in stored_evidence(backend):
            inspector.age_evidence(backend.evidence_dir, sha, chat.now.timestamp())
    await retention.run(db, Policy(), two_hours_later, store)
    assert {original.sha256, copy_sha} <= set(stored_evidence(backend))
    async with db.transaction() as tx:
        (reporter_id,), = await tx.execute_fetchall("SELECT id FROM reporters")
        await privacy.erase_reporter(tx, int(reporter_id), two_hours_later.isoformat())
    assert await data_rights.clean_erased_evidence(db, store) >= 1
    await retention.run(db, Policy(), two_hours_later + timedelta(hours=2), store)
    left = stored_evidence(backend)
    assert original.sha256 not in left and copy_sha in left and not any(has_gps(b) for b in left.values())
    again = await cleaned_copy(db, store, original.sha256, "image/jpeg")
    assert isinstance(again, Cleaned) and again.data == copy.data, "the copy still stands for the original"
    await db.close()
