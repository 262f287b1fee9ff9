"""Issue 11, "What was found": one regression test per leak, each seen failing on the code
before the fix. Staff answers are checked on a real SQLite file through `StaffCommands`;
files and logs go through the real PTB application and the fake Bot API / fake Twilio."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import av
import pikepdf
import pytest
from PIL import Image

import cleaning
from bot.config import Settings
from bot.telegram.case_card import CardData, render
from flows.case import inquiry, lifecycle
from flows.case.lifecycle import Actor
from storage import case_posts, cases, outbox
from storage.case_queries import counts
from tests import fake_telegram as tg
from tests import hostile_files as hostile
from tests.backends import Backend, outbox_rows
from tests.chat import HAPPY_PATH, Chat
from tests.fake_telegram import FakeTelegram
from tests.telegram_harness import Reporter, polling_bot, settings_for
from tests.test_moderation import ADMIN, FOCAL, GROUP_A, GROUP_B, MODERATOR, NOT_HERE, REFUSED, Seeded, seed

NAME, PHONE_TAIL = "Siti Aminah", "3456"
ADMIN_IN_GROUP = type(ADMIN)(ADMIN.user_id, ADMIN.name, GROUP_A, in_group=True)
MODERATOR_IN_GROUP = type(MODERATOR)(MODERATOR.user_id, MODERATOR.name, GROUP_A, in_group=True)
OFFICER_ACTOR = Actor(f"telegram:{FOCAL.user_id}", FOCAL.name)


def terbuka_path() -> tuple[str, ...]:
    return tuple("@terbuka" if step == "@rahasia" else step for step in HAPPY_PATH)


@contextmanager
def captured_logs(level: str, settings: Settings | None = None) -> Iterator[io.StringIO]:
    """Logging exactly as the entry points set it up, written to a buffer."""
    from bot.logs import configure_logging

    buffer = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging(level, settings, stream=buffer)
    try:
        yield buffer
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


# --- 1. answers are shaped by who reads them --------------------------------------------------

async def test_a_moderator_s_lihat_in_a_group_never_shows_a_confidential_identity(backend: Backend) -> None:
    s = await seed(backend)
    try:
        private = await s.run(MODERATOR, "lihat", s.number)
        assert NAME in private.text, "in a private chat the moderator sees the confidential reporter"
        for caller in (MODERATOR_IN_GROUP, ADMIN_IN_GROUP):
            in_group = await s.run(caller, "lihat", s.number)
            assert s.number in in_group.text
            assert NAME not in in_group.text and PHONE_TAIL not in in_group.text
    finally:
        await s.db.close()


async def test_ekspor_in_a_group_has_no_identity_columns_and_only_that_group_s_cases(backend: Backend) -> None:
    s = await seed(backend)
    try:
        assert (await s.run(ADMIN, "ekspor")).export_identity is True
        reply = await s.run(ADMIN_IN_GROUP, "ekspor")
        assert reply.export is not None and reply.export_identity is False
        assert reply.export.chat_id == GROUP_A
    finally:
        await s.db.close()


async def test_rute_semua_in_a_group_lists_no_other_group(backend: Backend) -> None:
    s = await seed(backend)
    try:
        assert str(GROUP_B) in (await s.run(ADMIN, "rute", "semua")).text
        for caller in (ADMIN_IN_GROUP, MODERATOR_IN_GROUP):
            listing = await s.run(caller, "rute", "semua")
            assert str(GROUP_B) not in listing.text and str(GROUP_A) not in listing.text
            assert "pribadi" in listing.text, "a pointer to a private chat"
            own = await s.run(caller, "rute")
            assert "Kota Denpasar" in own.text and "Badung" not in own.text and str(GROUP_A) not in own.text
    finally:
        await s.db.close()


# --- 2. access ends when the case leaves the group --------------------------------------------

async def _move_away(s: Seeded, how: str) -> None:
    at = datetime.now().astimezone().isoformat()
    if how == "not_ours":
        async with s.db.transaction() as tx:
            verdict = await lifecycle.reroute(tx, s.commands.policy, s.case_id, GROUP_A, "51.03", OFFICER_ACTOR, at)
        assert verdict.ok
    elif how == "alihkan":
        assert "diteruskan" in (await s.run(MODERATOR, "alihkan", f"{s.number} 51.03")).text
    else:
        assert "tidak lagi menerima" in (await s.run(ADMIN_IN_GROUP, "hapus_fokus", "51.71")).text


@pytest.mark.parametrize("how", ["not_ours", "alihkan", "hapus_fokus"])
async def test_the_old_group_loses_the_case_when_it_moves(backend: Backend, how: str) -> None:
    s = await seed(backend, steps=terbuka_path())
    try:
        assert NAME in (await s.run(FOCAL, "lihat", s.number)).text, "an open reporter is shown to the holder"
        await _move_away(s, how)
        # A group left with no route and no case has no role any more: it is refused outright.
        refused = (NOT_HERE, REFUSED) if how == "hapus_fokus" else (NOT_HERE,)
        seen = await s.run(FOCAL, "lihat", s.number)
        assert seen.text in refused and seen.evidence_of is None
        assert (await s.run(FOCAL, "jejak", s.number)).text in refused
        assert s.number not in (await s.run(FOCAL, "kasus")).text
        stats = await s.run(FOCAL, "statistik", "30")
        assert stats.text == REFUSED if how == "hapus_fokus" else stats.chart is not None and stats.chart.total == 0
        export = await s.run(FOCAL, "ekspor")
        async with s.db.reading() as tx:
            assert export.export is None if how == "hapus_fokus" else (await counts(tx, export.export)).total == 0
            assert not (await lifecycle.check(tx, s.case_id, GROUP_A, "accept")).ok
            case = await cases.get(tx, s.case_id)
            post = await case_posts.in_chat(tx, s.case_id, GROUP_A)
        assert case is not None and post is not None and not post.active
        text, markup = render(CardData(case, 4, None, active_here=False), "id")
        assert markup is None and case.number in text
        assert NAME not in text and case.description[:20] not in text and "SMPN 1" not in text, \
            "the old group's card says the case moved, with no details"
    finally:
        await s.db.close()


async def test_an_answer_to_minta_info_goes_only_to_the_group_that_holds_the_case_now(backend: Backend) -> None:
    s = await seed(backend)
    try:
        at = datetime.now().astimezone().isoformat()
        async with s.db.transaction() as tx:
            assert (await inquiry.ask(tx, s.commands.policy, s.case_id, GROUP_A, "Kapan persisnya?",
                                      OFFICER_ACTOR, at)).ok
        await _move_away(s, "not_ours")
        reporter = Chat(s.engine, address="111222333", update_prefix="answer")
        await reporter.run("Jam sembilan pagi, JAWABAN-RAHASIA", "#photo foto-tambahan")
        rows = [(r.address, r.text) for r in await outbox_rows(s.db) if r.channel == "telegram"]
        to_old = [p for a, p in rows if a == str(GROUP_A) and ("JAWABAN" in p or "foto-tambahan" in p)]
        to_new = [p for a, p in rows if a == str(GROUP_B) and "JAWABAN" in p]
        assert to_old == [], "the old group gets neither the answer nor the new evidence"
        assert len(to_new) == 1
    finally:
        await s.db.close()


# --- item 6: staff by role or name, times in the service's zone ----------------------------------

async def test_jejak_names_staff_by_name_or_role_and_shows_every_time_in_wib(backend: Backend) -> None:
    s = await seed(backend)
    try:
        await s.run(MODERATOR, "setstatus", f"{s.number} diterima")
        async with s.db.transaction() as tx:  # events as older code wrote them: UTC, no display name
            await cases.add_event(tx, s.case_id, "2024-11-21T03:00:00+00:00", "telegram:9876543", "note", None, None, "a")
            await cases.add_event(tx, s.case_id, "2024-11-21T03:05:00+00:00", f"telegram:{ADMIN.user_id}", "note",
                                  None, None, "b")
            await cases.add_event(tx, s.case_id, "2024-11-21T03:10:00+00:00", "system", "reminder", None, None, None)
        trail = (await s.run(MODERATOR, "jejak", s.number)).text
        assert "telegram:" not in trail and "9876543" not in trail
        lines = trail.splitlines()[1:]
        assert len(lines) == 5 and all(re.match(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} WIB · ", line) for line in lines), lines
        assert "2024-11-21 10:00 WIB · Petugas · note · a" in lines
        assert "2024-11-21 10:05 WIB · Admin · note · b" in lines
        assert "2024-11-21 10:10 WIB · Sistem · reminder" in lines
        assert any(" · Moderator · status baru → diterima" in line for line in lines), "by display name"
    finally:
        await s.db.close()


# --- 3 and 4. files ---------------------------------------------------------------------------

def test_a_jpeg_loses_its_comment_exif_and_gps_and_keeps_its_orientation() -> None:
    result = cleaning.clean(hostile.jpeg(), "image/jpeg")
    assert isinstance(result, cleaning.Cleaned) and result.mime == "image/jpeg"
    assert hostile.markers_in(result.data) == []
    image = Image.open(io.BytesIO(result.data))
    assert image.size == (48, 64), "orientation 6 applied: the picture stands up"
    assert not image.getexif() and "comment" not in image.info
    assert image.getpixel((44, 4))[0] > 200 and image.getpixel((4, 4))[0] < 150, "the red corner turned with the picture"


@pytest.mark.parametrize("kind", ["png", "tiff", "gif", "webp", "bmp", "heic"])
def test_every_image_format_is_rebuilt_from_pixels(kind: str) -> None:
    data = getattr(hostile, kind)()
    result = cleaning.clean(data, "application/octet-stream")
    assert isinstance(result, cleaning.Cleaned), result
    assert result.mime.startswith("image/") and result.mime != "image/heic"
    assert hostile.markers_in(result.data) == []
    image = Image.open(io.BytesIO(result.data))
    image.load()
    assert not image.getexif() and not image.info.get("comment") and not getattr(image, "text", {})


def test_a_truncated_image_is_unsafe() -> None:
    assert isinstance(cleaning.clean(hostile.truncated_jpeg(), "image/jpeg"), cleaning.Unsafe)


def test_a_pdf_loses_author_xmp_javascript_and_embedded_files() -> None:
    result = cleaning.clean(hostile.pdf(), "application/pdf")
    assert isinstance(result, cleaning.Cleaned) and result.mime == "application/pdf"
    assert hostile.markers_in(result.data) == []
    with pikepdf.open(io.BytesIO(result.data)) as document:
        assert len(document.pages) == 1 and not document.attachments
        assert "/Metadata" not in document.Root and "/OpenAction" not in document.Root
        assert "/Author" not in document.docinfo
        assert b"Laporan bukti" in document.pages[0].Contents.read_bytes(), "the content stays"


def _pdf_with_jpeg(where: str, filters: list[str], as_array: bool) -> bytes:
    """A one-page PDF showing a phone photo (camera make, owner, comment) as `where` says:
    in the page's resources, or in a stamp annotation's appearance (an image stamp, a
    signature)."""
    import zlib

    exif = Image.Exif()
    exif[0x010F] = "SAMSUNG-SECRETMAKE"
    exif[0x013B] = "Budi Santoso SECRETOWNER"
    photo = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(photo, "JPEG", exif=exif.tobytes(), comment=b"SECRETCOMMENT")
    data = photo.getvalue()
    for name in reversed(filters[:-1]):
        assert name == "/FlateDecode"
        data = zlib.compress(data)
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(100, 100))
    page = pdf.pages[0]
    image = pikepdf.Stream(pdf, data)
    for key, value in (("/Type", pikepdf.Name.XObject), ("/Subtype", pikepdf.Name.Image), ("/Width", 16),
                       ("/Height", 16), ("/ColorSpace", pikepdf.Name.DeviceRGB), ("/BitsPerComponent", 8)):
        image[key] = value
    image["/Filter"] = (pikepdf.Array([pikepdf.Name(f) for f in filters]) if as_array else pikepdf.Name(filters[0]))
    resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=pdf.make_indirect(image)))
    drawing = b"q 100 0 0 100 0 0 cm /Im0 Do Q"
    if where == "page":
        page.obj["/Resources"] = resources
        page.obj["/Contents"] = pdf.make_stream(drawing)
    else:
        appearance = pikepdf.Stream(pdf, drawing)
        for key, value in (("/Type", pikepdf.Name.XObject), ("/Subtype", pikepdf.Name.Form),
                           ("/BBox", pikepdf.Array([0, 0, 100, 100])), ("/Resources", resources)):
            appearance[key] = value
        stamp = pikepdf.Dictionary(Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Stamp, Rect=[0, 0, 100, 100],
                                   AP=pikepdf.Dictionary(N=pdf.make_indirect(appearance)))
        page.obj["/Annots"] = pdf.make_indirect(pikepdf.Array([pdf.make_indirect(stamp)]))
    out = io.BytesIO()
    pdf.save(out, compress_streams=False)
    return out.getvalue()


def _every_stream_decoded(data: bytes) -> bytes:
    """The file's bytes and every stream's, with what a reader can undo undone."""
    import zlib

    found = [data]
    with pikepdf.open(io.BytesIO(data)) as document:
        for obj in document.objects:
            if isinstance(obj, pikepdf.Stream):
                try:
                    found.append(obj.read_bytes(decode_level=pikepdf.StreamDecodeLevel.generalized))
                except pikepdf.PdfError:  # a JPEG under other filters: undo those by hand
                    raw = obj.read_raw_bytes()
                    found.append(zlib.decompress(raw) if raw.startswith(b"x") else raw)
    return b"".join(found)


@pytest.mark.parametrize(("where", "filters"), [
    ("page", ["/DCTDecode"]), ("page-array", ["/DCTDecode"]), ("page-array", ["/FlateDecode", "/DCTDecode"]),
    ("stamp", ["/DCTDecode"]),
])
def test_a_photo_in_a_pdf_loses_its_exif_however_its_filters_are_written_and_wherever_it_is_drawn(
        where: str, filters: list[str]) -> None:
    """Regression (attacker's review): a JPEG whose /Filter was an array, or that a stamp
    annotation drew, kept its camera data and comment in a PDF called cleaned."""
    original = _pdf_with_jpeg(where.removesuffix("-array"), filters, where.endswith("-array") or len(filters) > 1)
    assert b"SECRETMAKE" in _every_stream_decoded(original)
    result = cleaning.clean(original, "application/pdf")
    assert isinstance(result, cleaning.Cleaned), result
    everything = _every_stream_decoded(result.data)
    assert b"SECRETMAKE" not in everything and b"SECRETOWNER" not in everything and b"SECRETCOMMENT" not in everything
    with pikepdf.open(io.BytesIO(result.data)) as document:
        images = [o for o in document.objects if isinstance(o, pikepdf.Stream) and o.get("/Subtype") == "/Image"]
        assert len(images) == 1
        pixels = Image.open(io.BytesIO(images[0].read_bytes(decode_level=pikepdf.StreamDecodeLevel.generalized)
                                       if str(images[0].get("/Filter")) != "/DCTDecode" else images[0].read_raw_bytes()))
        assert pixels.size == (16, 16), "the photo itself stays"


def test_a_pdf_s_annotations_lose_their_author_and_times_and_keep_what_they_say() -> None:
    """Regression (attacker's review): a highlight or a note kept /T (the editor's user name,
    often the reporter's full name or e-mail), /M and /NM."""
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(200, 200))
    popup = pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Popup,
                                                 Rect=[0, 0, 50, 50], T=pikepdf.String("Budi Santoso SECRETNAME")))
    note = pdf.make_indirect(pikepdf.Dictionary(
        Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Text, Rect=[10, 10, 30, 30], Popup=popup,
        Contents=pikepdf.String("lihat paragraf ini"), T=pikepdf.String("Budi Santoso SECRETNAME"),
        M=pikepdf.String("D:20241120093000+07'00'"), NM=pikepdf.String("budi-laptop-SECRETID"),
        CreationDate=pikepdf.String("D:20241120093000+07'00'")))
    highlight = pdf.make_indirect(pikepdf.Dictionary(
        Subtype=pikepdf.Name.Highlight, Rect=[40, 40, 90, 50], QuadPoints=[40, 50, 90, 50, 40, 40, 90, 40],
        T=pikepdf.String("budi.s@kemendagri.go.id SECRETMAIL")))
    pdf.pages[0].obj["/Annots"] = pdf.make_indirect(pikepdf.Array([note, highlight, popup]))
    out = io.BytesIO()
    pdf.save(out)
    result = cleaning.clean(out.getvalue(), "application/pdf")
    assert isinstance(result, cleaning.Cleaned), result
    everything = _every_stream_decoded(result.data)
    for secret in (b"SECRETNAME", b"SECRETID", b"SECRETMAIL", b"20241120093000"):
        assert secret not in everything, secret
    with pikepdf.open(io.BytesIO(result.data)) as document:
        kept = [str(a.get("/Contents", "")) for a in document.pages[0].obj["/Annots"]]
        assert "lihat paragraf ini" in kept, "what the note says is evidence"


def test_a_video_is_remuxed_without_its_location_and_title() -> None:
    result = cleaning.clean(hostile.mp4(), "video/mp4")
    assert isinstance(result, cleaning.Cleaned) and result.mime == "video/mp4"
    assert hostile.markers_in(result.data) == []
    with av.open(io.BytesIO(result.data)) as container:
        assert [s.type for s in container.streams] == ["video"]
        assert sum(1 for _ in container.demux(video=0) if _.size) == 10, "every frame kept, not re-encoded"
        assert "location" not in container.metadata and "title" not in container.metadata


@pytest.mark.parametrize(("make", "mime", "codec"), [
    (hostile.opus_voice, "audio/ogg", "opus"), (hostile.m4a, "audio/mp4", "aac"), (hostile.mp3, "audio/mpeg", "mp3float"),
    (hostile.amr, "audio/amr", "amrnb"),
    (lambda: hostile._audio("3gp", "libopencore_amrnb", 8000), "audio/3gpp", "amrnb"),
    (lambda: hostile._audio("webm", "libopus", 48000), "audio/webm", "opus"),
])
def test_a_recording_is_remuxed_without_its_tags_and_its_length_is_known(make: Any, mime: str, codec: str) -> None:
    data = make()
    result = cleaning.clean(data, "application/octet-stream")
    assert isinstance(result, cleaning.Cleaned), result
    assert result.mime == mime
    assert hostile.markers_in(result.data) == [] and hostile.MARKERS["audio_artist"].encode() not in result.data
    assert result.duration is not None and 1.4 < result.duration < 1.7
    with av.open(io.BytesIO(result.data)) as container:
        assert [s.codec_context.name for s in container.streams] == [codec]
        assert not {k.lower() for k in container.metadata} - {"encoder", "major_brand", "minor_version",
                                                              "compatible_brands"}
        assert all(not {k.lower() for k in s.metadata} - {"encoder", "language", "handler_name", "vendor_id",
                                                          "duration"} for s in container.streams)
        original = sum(1 for p in av.open(io.BytesIO(data)).demux(audio=0) if p.size)
        assert sum(1 for p in container.demux(audio=0) if p.size) == original, "every packet kept, not re-encoded"


@pytest.mark.parametrize("kind", ["docx", "truncated_jpeg"])
def test_what_cannot_be_made_safe_is_unsafe(kind: str) -> None:
    assert isinstance(cleaning.clean(getattr(hostile, kind)(), None), cleaning.Unsafe)


@pytest.mark.slow  # a process of its own, to measure its memory
def test_a_13300_pixel_square_png_is_refused_without_being_decoded(tmp_path: Path) -> None:
    """In a child process with its address space capped at 1 GiB: decoding it would need ~700 MB
    on top of the interpreter, so only a check before decoding passes."""
    path = tmp_path / "huge.png"
    path.write_bytes(hostile.huge_png())
    script = (
        "import resource, sys, json\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
        "import cleaning\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "result = cleaning.clean(data, 'image/png')\n"
        # VmHWM, not ru_maxrss: the latter keeps the forking pytest process's peak across exec
        "peak = int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])\n"
        "print(json.dumps({'type': type(result).__name__, 'reason': getattr(result, 'reason', None),"
        " 'peak_kb': peak}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).parent.parent, env={**os.environ, "PYTHONPATH": "."})
    assert done.returncode == 0, done.stderr[-2000:]
    outcome = json.loads(done.stdout)
    assert outcome["type"] == "Unsafe" and outcome["reason"] == "too_large"
    assert outcome["peak_kb"] < 300 * 1024, outcome


# --- files over Telegram ------------------------------------------------------------------------

GROUP = -1001000000001
REPORTER = 730111222


def video_update(fake: FakeTelegram, chat_id: int, name: str, data: bytes) -> dict[str, Any]:
    fake.files[f"files/{name}"] = data
    return tg.message(chat_id, video={"file_id": name, "file_unique_id": f"u-{name}", "width": 64, "height": 48,
                                      "duration": 1, "mime_type": "video/mp4", "file_name": name,
                                      "file_size": len(data)})


async def submit_with(r: Reporter, evidence: list[dict[str, Any]], identity: str = "anonim") -> str:
    """A complete report whose evidence is these updates, one message each."""
    await r.until_evidence()
    for update in evidence:
        await r.send(update)
    await r.press("done")
    await r.press(identity)
    if identity != "anonim":
        await r.say(NAME)
        await r.send(tg.contact(r.chat_id, "+6281234567890"))
    done = await r.press("send")
    return next(word for word in done[0].split() if word.startswith("LN-")).rstrip(".")


def uploads_to(fake: FakeTelegram, chat_id: int) -> list[dict[str, Any]]:
    """Every file part of every request to a chat, as the fake received it."""
    found = []
    for call in fake.calls:
        if str(call.params.get("chat_id")) == str(chat_id):
            found += [v for v in call.params.values() if isinstance(v, dict) and "data" in v]
    return found


def group_requests(fake: FakeTelegram, chat_id: int) -> str:
    return json.dumps([{k: v for k, v in c.params.items() if not isinstance(v, dict) or "data" not in v}
                       for c in fake.calls if str(c.params.get("chat_id")) == str(chat_id)], default=str)


@pytest.fixture
def file_settings(fake: FakeTelegram, backend: Backend) -> Settings:
    return settings_for(fake, backend, admin_telegram_ids=[4242], delivery_poll_seconds=0.05,
                        delivery_backoff_seconds=0.1, telegram_timeout=2.0)


async def test_documents_videos_and_files_reach_the_group_cleaned_and_renamed(
        fake: FakeTelegram, file_settings: Settings) -> None:
    r = Reporter(fake, REPORTER)
    evidence = [
        tg.document(fake, REPORTER, hostile.ORIGINAL_NAME, hostile.pdf()),
        video_update(fake, REPORTER, "VID_Siti_Aminah.mp4", hostile.mp4()),
        tg.document(fake, REPORTER, "IMG_Siti_Aminah.jpg", hostile.jpeg(), mime="application/octet-stream"),
    ]
    async with polling_bot(file_settings):
        fake.push(tg.group_text(GROUP, "/daftar_fokus 51.71", 4242))
        await fake.wait_for(lambda: bool(fake.texts(GROUP)))
        number = await submit_with(r, evidence)
        await fake.wait_for(lambda: len(uploads_to(fake, GROUP)) == 3, timeout=15)
    uploads = uploads_to(fake, GROUP)
    assert sorted(u["filename"] for u in uploads) == [f"{number}-bukti-1.pdf", f"{number}-bukti-2.mp4",
                                                       f"{number}-bukti-3.jpg"]
    for upload in uploads:
        assert hostile.markers_in(upload["data"]) == [], upload["filename"]
    assert "Siti" not in group_requests(fake, GROUP), "no original name, no Telegram file id of the original"


async def test_an_image_that_cannot_be_cleaned_is_kept_for_moderators_not_posted(
        fake: FakeTelegram, file_settings: Settings) -> None:
    r = Reporter(fake, REPORTER)
    broken = hostile.truncated_jpeg()
    evidence = [tg.photo(fake, REPORTER, "rusak-1", broken), tg.document(fake, REPORTER, "surat.docx", hostile.docx(),
                                                                       mime="application/vnd.openxmlformats")]
    async with polling_bot(file_settings):
        fake.push(tg.group_text(GROUP, "/daftar_fokus 51.71", 4242))
        await fake.wait_for(lambda: bool(fake.texts(GROUP)))
        await submit_with(r, evidence)
        await fake.wait_for(lambda: any("disimpan untuk moderator" in t for t in fake.texts(GROUP)), timeout=15)
    assert uploads_to(fake, GROUP) == []
    assert "rusak-1" not in group_requests(fake, GROUP) and "surat.docx" not in group_requests(fake, GROUP)
    assert any("2 file disimpan untuk moderator" in t for t in fake.texts(GROUP))


# --- 5. logs ----------------------------------------------------------------------------------

async def test_the_bot_token_is_not_logged_at_info(fake: FakeTelegram, file_settings: Settings) -> None:
    r = Reporter(fake, REPORTER)
    with captured_logs("INFO", file_settings) as logs:
        async with polling_bot(file_settings):
            await r.say("/start", at_least=2)
    assert tg.TOKEN not in logs.getvalue() and tg.TOKEN.split(":")[1] not in logs.getvalue()


async def test_delivery_warnings_name_no_chat_and_no_phone(backend: Backend) -> None:
    from bot.delivery import DeliveryWorker, Gone, Rejected, Retry
    from flows.policy import Policy

    class Failing:
        def __init__(self) -> None:
            self.errors = [Retry("twilio 500"), Rejected("twilio 400 21211: The 'To' number +6281298765432 is not valid"),
                           Gone("chat not found")]

        async def deliver(self, delivery: Any, progress: Any) -> None:
            raise self.errors.pop(0)

    db = await backend.open()
    try:
        async with db.transaction() as tx:
            for channel, address in (("whatsapp", "+6281298765432"), ("telegram", str(REPORTER)),
                                     ("telegram", "-1001000000001")):
                await outbox.enqueue(tx, channel, address, "send", {"replies": []}, "2024-01-01T00:00:00+00:00")
        worker = DeliveryWorker(db, Policy(), {"whatsapp": Failing(), "telegram": Failing()}, base_backoff=0.01)
        with captured_logs("DEBUG") as logs:
            for _ in range(3):
                await worker.run_once()
                await worker.settle()
        text = logs.getvalue()
        assert "delivery" in text
        assert "6281298765432" not in text and str(REPORTER) not in text and "1001000000001" not in text
    finally:
        await db.close()


async def test_a_whatsapp_form_that_fails_validation_is_logged_without_its_text(backend: Backend) -> None:
    import aiohttp
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from bot.whatsapp.webhook import handler
    from tests import fake_twilio as tw

    db = await backend.open()
    app = web.Application()
    app.router.add_post("/twilio/whatsapp", handler(db, tw.AUTH_TOKEN, "https://lapor.example.org"))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        form = {"MessageSid": "SM" + "1" * 32, "From": "whatsapp:+6281298765432",
                "Body": "Nama saya Siti Aminah, RAHASIA-TEKS " * 400, "NumMedia": "0"}
        signature = tw.sign("https://lapor.example.org/twilio/whatsapp", form)
        with captured_logs("DEBUG") as logs:
            async with aiohttp.ClientSession() as http, http.post(
                    server.make_url("/twilio/whatsapp"), data=form, headers={"X-Twilio-Signature": signature}) as response:
                assert response.status == 200  # signed: queued and answered ("terlalu panjang")
        text = logs.getvalue()
        assert "WhatsApp" in text
        assert "RAHASIA-TEKS" not in text and "Siti" not in text and "6281298765432" not in text
    finally:
        await server.close()
        await db.close()


# --- issue 30: what a typed answer was taken to mean is said to the reporter only --------------

async def test_the_echo_of_a_confidential_phone_reaches_only_the_reporter(backend: Backend) -> None:
    """The phone number as stored is said back ("» +62…") in the reporter's own chat, at
    the step that stored it: no other chat's message and no log line carries it."""
    from flows.engine import Engine
    from flows.policy import Policy

    db = await backend.open()
    try:
        with captured_logs("DEBUG") as logs:
            engine = Engine(db, policy=Policy(default_focal_chat_id=GROUP_A))
            chat = Chat(engine, channel="whatsapp", address="+6281299990001")
            await chat.run(*HAPPY_PATH)
            assert chat.text().startswith("» +6281234567890\n\n"), chat.text()
            await chat.send("kirim")
        rows = [(r.channel, r.address, r.text) for r in await outbox_rows(db)]
    finally:
        await db.close()
    holding = {(row[0], row[1]) for row in rows if "+6281234567890" in str(row[2]) or PHONE_TAIL in str(row[2])}
    assert holding <= {("whatsapp", "+6281299990001")}, holding
    assert any(channel != "whatsapp" for channel, _a, _p in rows), "the case did go to the group"
    assert "6281234567890" not in logs.getvalue() and PHONE_TAIL not in logs.getvalue()


async def test_a_cleaning_worker_writes_no_core_dump_and_dies_first() -> None:
    """A worker crashing on a reporter's file must not write the file to disk in a core dump,
    and under memory pressure the kernel kills it, not the service (`cleaning/worker.py`)."""
    from cleaning.pool import CleaningPool, Limits

    pool = CleaningPool(Limits(workers=1, memory_mb=512, seconds=30))
    try:
        assert isinstance(await pool.clean(hostile.jpeg(), "image/jpeg"), cleaning.Cleaned)
        (pid,) = pool.worker_pids()
        limits = Path(f"/proc/{pid}/limits").read_text()
        core = next(line for line in limits.splitlines() if line.startswith("Max core file size"))
        address = next(line for line in limits.splitlines() if line.startswith("Max address space"))
        assert core.split()[4:6] == ["0", "0"], core
        assert address.split()[3:5] == [str(512 * 1024 * 1024)] * 2, address
        assert Path(f"/proc/{pid}/oom_score_adj").read_text().strip() == "1000"
    finally:
        pool.close()


@pytest.mark.parametrize("open_identity", [False, True])
async def test_a_whatsapp_rosters_card_follows_a_groups_audience_rule(backend: Backend, open_identity: bool) -> None:
    """Issue 26: each officer of a roster reads the card a group reads: an open reporter's
    name, never a confidential one's, and never their chat address."""
    from bot.whatsapp import officer_text
    from storage.rosters import ROSTER_BASE

    s = await seed(backend, steps=terbuka_path() if open_identity else HAPPY_PATH)
    try:
        async with s.db.reading() as tx:
            case = await cases.get(tx, s.case_id)
        assert case is not None
        text = officer_text.card_text(CardData(case, 1, None, active_here=True), "id", ROSTER_BASE - 1)
        assert case.number in text and "1. Terima" in text
        assert (NAME in text) == open_identity and (PHONE_TAIL in text) == open_identity
        assert "111222333" not in text
        gone = officer_text.card_text(CardData(case, 1, None, active_here=False), "id", ROSTER_BASE - 1)
        assert NAME not in gone and case.description[:20] not in gone and "Terima" not in gone
    finally:
        await s.db.close()


# --- issue 28: work set aside after crashes names nobody ------------------------------------------

async def test_work_set_aside_after_crashes_is_alerted_and_logged_without_identifiers(backend: Backend) -> None:
    """A reporter's message and a case card that the process died on three times: the alerts
    say what it was (and the case number), never the number, chat id, name or text."""
    from bot.delivery import DeliveryWorker
    from flows.engine import Engine
    from flows.policy import Policy
    from storage import workers

    db = await backend.open()
    policy = Policy(moderator_chat_id=-1002800000009)
    try:
        chat = Chat(Engine(db, policy=policy), address="6281298765432")
        await chat.run(*HAPPY_PATH, "@send")  # Siti Aminah, 0812 3456 7890, a confidential report
        async with db.transaction() as tx:
            await inbound_queue_add(tx)
            await tx.execute("UPDATE outbox SET crashes = 2, leased_until = '2999-01-01T00:00:00+00:00',"
                             " leased_by = 'dead' WHERE status = 'pending'")
            await tx.execute("UPDATE inbound_queue SET crashes = 2, leased_until = '2999-01-01T00:00:00+00:00',"
                             " leased_by = 'dead'")
        with captured_logs("DEBUG") as logs:
            reclaimed = await DeliveryWorker(db, policy, {}, worker_id="alive").register()
        assert reclaimed.deliveries and len(reclaimed.inbound) == 1
        async with db.reading() as tx:
            alerts = [d.payload for d in await outbox_to(tx, str(policy.moderator_chat_id))]
            kinds = await workers.set_aside_counts(tx, "2000-01-01T00:00:00+00:00")
        assert alerts and "inbound" in kinds and any(kind.startswith("delivery:") for kind in kinds)
        for text in [json.dumps(alerts, ensure_ascii=False), logs.getvalue()]:
            for secret in ("6281298765432", "Siti Aminah", "0812 3456 7890", "812345", "Kepala sekolah mengunggah",
                           "halo dari +62"):
                assert secret not in text, secret
    finally:
        await db.close()


async def inbound_queue_add(tx: Any) -> None:
    from storage import inbound_queue

    await inbound_queue.add(tx, "whatsapp", "+6281298765432", "SM-set-aside", {"Body": "halo dari +6281298765432"},
                            "2024-11-21T03:00:00+00:00")


async def outbox_to(tx: Any, address: str) -> list[outbox.Delivery]:
    rows = await tx.execute_fetchall(f"SELECT {outbox._COLUMNS} FROM outbox WHERE address = ? ORDER BY id",
                                     (tx.keys.lookup(address),))  # an address is stored as its keyed hash
    return [outbox._delivery(tx, r) for r in rows]
