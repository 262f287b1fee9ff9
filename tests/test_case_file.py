"""Issue 16, the case file (PDF): every field, in Indonesian; identity as the audience
allows; evidence hashes equal to the stored ones, thumbnails from the cleaned copies; the
file's own SHA-256 in the audit trail; a look at the rendered first page; the shell command.
Cases are filed through the real engine on a real SQLite file; the PDF is read back with
pypdf and rendered with pypdfium2."""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pypdf
import pypdfium2 as pdfium
import pytest
from PIL import Image

from bot.__main__ import main
from bot.case_file import ALREADY_SENT, CaseFiles, Made
from bot.case_file.pdf import MARGIN
from flows.case.case_file import Order
from flows.engine import Engine
from flows.policy import Policy
from flows.reporter import data_rights
from flows.staff import route_admin
from flows.staff.roles import Role
from flows.staff.visibility import PRIVATE, Viewer
from storage import Database, case_files, cases, cleaned_files, staff
from storage.cases import Case
from storage.evidence_files import EvidenceStore
from tests.backends import Backend
from tests.conftest import logging_as_it_was
from tests.reports import Report, file_report, jpeg_with_gps

WIB = timezone(timedelta(hours=7))
GROUP, OTHER_GROUP = -100100, -100200
POLICY = Policy(admin_ids=frozenset({1}), moderator_chat_id=-100999)
MODERATOR = Viewer(PRIVATE, Role.MODERATOR, 2)
NOW = datetime(2024, 11, 22, 9, 30, tzinfo=WIB)
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR", Path(__file__).parent / "artifacts"))
HEX = re.compile(r"\b[0-9a-f]{64}\b")


@dataclass
class Desk:
    db: Database
    engine: Engine
    store: EvidenceStore
    files: CaseFiles

    async def file(self, report: Report, address: str, channel: str = "test") -> Case:
        return await file_report(self.engine, self.store, report, address, channel)

    async def make(self, case: Case, audience: Viewer, now: datetime = NOW) -> Made:
        made = await self.files.make(Order(case.id, audience, "telegram:2", "Moderator Made"), now=now)
        assert made is not None
        return made


@pytest.fixture
async def desk(backend: Backend) -> AsyncIterator[Desk]:
    db = await backend.open()
    async with db.transaction() as tx:
        await route_admin.add(tx, POLICY, "51.71", GROUP, by="test", at="2024-11-20T00:00:00+07:00")
        await route_admin.add(tx, POLICY, "51.03", OTHER_GROUP, by="test", at="2024-11-20T00:00:00+07:00")
        await staff.add_moderator(tx, 2, "telegram:1", "2024-11-20T00:00:00+07:00")
    store = EvidenceStore.for_database(db, backend.evidence_dir)
    yield Desk(db, Engine(db, policy=POLICY), store, CaseFiles(db, store, "Asia/Jakarta"))
    await db.close()


def text_of(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def flat(text: str) -> str:
    return " ".join(text.split())


def everything_in(data: bytes) -> str:
    """Text, metadata and the EXIF of every embedded image: all a reader could get at."""
    reader = pypdf.PdfReader(io.BytesIO(data))
    parts = [text_of(data), repr(dict(reader.metadata or {}))]
    for page in reader.pages:
        for image in page.images:
            parts.append(repr(dict(Image.open(io.BytesIO(image.data)).getexif())))
            parts.append(image.data.decode("latin-1"))
    return "\n".join(parts)


async def test_every_field_is_in_the_file_in_indonesian_and_its_hash_is_recorded(desk: Desk) -> None:
    case = await desk.file(Report(files=[("photo", jpeg_with_gps(), "image/jpeg")]), "reporter-1")
    made = await desk.make(case, Viewer.shell(identity=True))
    text = flat(text_of(made.data))
    expected = [
        f"Berkas Kasus {case.number}", f"Nomor kasus {case.number}", "Daerah Kota Denpasar, Bali",
        "Status Baru",
        "Instansi SMPN 1 Denpasar", "Jenis instansi Pemerintah Daerah · Sekolah negeri", "Nama Budi Santoso",
        "Jabatan Kepala Sekolah", "Status kepegawaian PNS (ASN)",
        "Jenis pelanggaran Kampanye di media sosial",
        "Dasar aturan SKB 2022 tentang Netralitas ASN (kode etik dan kode perilaku)",
        "Tanggal kejadian Selasa, 19 November 2024", "Diketahui pada Selasa, 19 November 2024",
        "Batas akhir lapor ke Bawaslu Selasa, 26 November 2024 (tinggal 4 hari)",
        "Tempat Ruang guru SMPN 1 Denpasar", "Koordinat pin -8.650000, 115.210000",
        "Kronologi Kepala sekolah mengunggah ajakan memilih paslon 2 di grup WhatsApp guru.",
        "Saksi Dua guru honorer yang hadir di ruang guru",
        "Pelapor Rahasia (Siti Aminah, +6281234567890)",
        "Bukti 1", "Jenis Foto JPEG", "Diterima Kamis, 21 November 2024 pukul",
        "Jejak audit", "Kamis, 21 November 2024 pukul 10.07 WIB · Pelapor · Laporan masuk",
        "Dibuat pada Jumat, 22 November 2024 pukul 09.30 WIB",
        "Untuk Operator (baris perintah), dengan identitas pelapor",
        "Diminta oleh Moderator Made (telegram:2)", "Halaman 1 dari",
    ]
    for wanted in expected:
        assert wanted in text, wanted
    assert "Menunggu rute" not in text
    async with desk.db.reading() as tx:
        events = await cases.events_of(tx, case.id)
        stored = await case_files.of_case(tx, case.id)
    event = events[-1]
    assert (event.kind, event.actor) == ("case_file", "telegram:2")
    assert event.note is not None and event.note.startswith(f"SHA-256 {hashlib.sha256(made.data).hexdigest()} ·")
    assert [(f.sha256, f.size, f.data) for f in stored] == [(made.sha256, len(made.data), None)], \
        "the register keeps the hash; a shell file keeps no copy"
    assert made.file_name == f"berkas-{case.number}.pdf"


async def test_a_passed_bawaslu_deadline_is_flagged(desk: Desk) -> None:
    case = await desk.file(Report(), "reporter-1")
    today = flat(text_of((await desk.make(case, MODERATOR, now=datetime(2024, 11, 26, 8, 0, tzinfo=WIB))).data))
    assert "Batas akhir lapor ke Bawaslu Selasa, 26 November 2024: hari ini" in today
    late = flat(text_of((await desk.make(case, MODERATOR, now=datetime(2024, 12, 1, 8, 0, tzinfo=WIB))).data))
    assert "Batas akhir lapor ke Bawaslu Selasa, 26 November 2024: SUDAH LEWAT 5 hari" in late


@pytest.mark.parametrize("group, unit, status, employment, rule", [
    ("pemda", "dinas", "pppk", "PPPK (ASN)", "SKB 2022 tentang Netralitas ASN"),
    ("desa", "kepala_desa", "pns", "Bukan ASN", "UU 6/2014 tentang Desa: jalur hukum desa"),
    ("bumn_bumd", None, "tidak_tahu", "Bukan ASN", "Bukan ASN: aturan perusahaan (BUMN/BUMD)"),
    ("tni_polri", None, "pns", "Bukan ASN", "Bukan ASN: aturan netralitas TNI/Polri"),
])
async def test_employment_status_and_the_rule_it_touches(desk: Desk, group: str, unit: str | None, status: str,
                                                        employment: str, rule: str) -> None:
    case = await desk.file(Report(agency_group=group, agency_unit=unit, status=status), "reporter-1")
    text = flat(text_of((await desk.make(case, MODERATOR)).data))
    assert f"Status kepegawaian {employment}" in text
    assert rule in text


async def test_a_disciplinary_breach_names_pp_94_2021_and_vote_buying_the_election_crime(desk: Desk) -> None:
    case = await desk.file(Report(incident="ajakan_barang"), "reporter-1")
    text = flat(text_of((await desk.make(case, MODERATOR)).data))
    assert "PP 94/2021 tentang Disiplin PNS (Pasal 5 huruf n)" in text
    assert "tindak pidana pemilihan (Sentra Gakkumdu)" in text


async def test_an_anonymous_reporters_file_holds_none_of_their_identifiers(desk: Desk) -> None:
    address = "whatsapp:+6281299887766"
    case = await desk.file(Report(identity="anonim", files=[("photo", jpeg_with_gps(), "image/jpeg")]),
                           address, channel="whatsapp")
    assert case.identity_mode == "anonim"
    for audience in (Viewer.group(GROUP), MODERATOR, Viewer(PRIVATE, Role.ADMIN, 1),
                     Viewer.shell(identity=True)):
        made = await desk.make(case, audience)
        seen = everything_in(made.data)
        assert "Pelapor Anonim" in flat(text_of(made.data))
        assert "informasi awal" in seen, "an anonymous report counts as initial information"
        for identifier in ("6281299887766", "81299887766", address, "Siti", "IMG_0", "PhoneMaker", "whatsapp"):
            assert identifier not in seen, (audience.kind, identifier)
        assert "GPSInfo" not in seen and "34853" not in seen, "thumbnails carry no EXIF"


async def test_identity_follows_the_audience(desk: Desk) -> None:
    confidential = await desk.file(Report(identity="rahasia"), "reporter-1")
    group_copy = everything_in((await desk.make(confidential, Viewer.group(GROUP))).data)
    assert "Rahasia (hanya diketahui moderator)" in flat(group_copy)
    assert "Siti" not in group_copy and "3456" not in group_copy, "a group's file never names a rahasia reporter"
    moderator_copy = flat(text_of((await desk.make(confidential, MODERATOR)).data))
    assert "Pelapor Rahasia (Siti Aminah, +6281234567890)" in moderator_copy
    shell_copy = text_of((await desk.make(confidential, Viewer.shell(identity=False))).data)
    assert "Siti" not in shell_copy

    open_case = await desk.file(Report(identity="terbuka", name="Wayan Open"), "reporter-2")
    assert "Terbuka (Wayan Open, +6281234567890)" in flat(text_of((await desk.make(open_case, Viewer.group(GROUP))).data))
    for outsider in (Viewer.group(OTHER_GROUP), Viewer(PRIVATE, Role.FOCAL, 3), Viewer(PRIVATE, Role.STRANGER, 5)):
        assert await desk.files.make(Order(open_case.id, outsider, "telegram:3")) is None, outsider
    async with desk.db.reading() as tx:
        kinds = [e.kind for e in await cases.events_of(tx, open_case.id)]
    assert kinds.count("case_file") == 1, "refused files are not generated, so not recorded"


async def test_evidence_hashes_equal_the_stored_ones_and_thumbnails_come_from_cleaned_copies(desk: Desk) -> None:
    big = jpeg_with_gps(3000, 2000, noise=True)
    assert len(big) > 4_000_000, "a real phone photo's size"
    files = [("photo", big, "image/jpeg"), ("photo", jpeg_with_gps(shade=200), "image/jpeg"),
             ("photo", b"\xff\xd8\xff\xe0 not really a jpeg" * 50, "image/jpeg"),
             ("document", b"%PDF-1.4\n% surat undangan\n" * 40, "application/pdf")]
    case = await desk.file(Report(files=files), "reporter-1")
    made = await desk.make(case, MODERATOR)
    async with desk.db.reading() as tx:
        stored = [e.sha256 for e in await cases.evidence_of(tx, case.id)]
        cleaned = [await cleaned_files.get(tx, sha) for sha in stored if sha]
    assert stored == [hashlib.sha256(data).hexdigest() for _kind, data, _mime in files]
    text = text_of(made.data)
    assert HEX.findall(text) == stored, "every hash listed, in order, equal to the stored one"
    group_text = text_of((await desk.make(case, Viewer.group(GROUP))).data)
    clean_hashes = [c.clean_sha256 for c in cleaned if c is not None and c.clean_sha256]
    assert len(clean_hashes) == 2 and HEX.findall(group_text.split("Jejak audit")[0]) == clean_hashes, \
        "a group reads the hashes of the cleaned copies it was sent, never an original's (attacker's review)"
    assert "Ukuran" not in group_text and "tidak ada salinan bersih" in flat(group_text)
    flat_text = flat(text)
    assert "Pratinjau Tanpa pratinjau: berkas tidak dapat dibuat aman untuk ditampilkan." in flat_text
    assert "Pratinjau Tidak ada pratinjau untuk jenis berkas ini." in flat_text
    assert "Ukuran 1 KB (1.040 byte)" in flat_text and "Jenis Dokumen PDF" in flat_text
    megabytes = f"{len(big) / 1024 / 1024:.1f}".replace(".", ",")
    assert f"Ukuran {megabytes} MB ({len(big):,} byte)".replace(",", "X").replace("X", ".", 1) in flat_text or \
        f"({len(big):,} byte)".replace(",", ".") in flat_text
    images = [image for page in pypdf.PdfReader(io.BytesIO(made.data)).pages for image in page.images]
    assert len(images) == 2, "a thumbnail for each image that could be cleaned, none for the others"
    for image in images:
        opened = Image.open(io.BytesIO(image.data))
        assert max(opened.size) <= 480 and not dict(opened.getexif())
        assert b"PhoneMaker" not in image.data and b"Siti" not in image.data
    assert len(made.data) < 1_000_000, "thumbnails, not the originals"


def margins_px(width_px: int, page_width_pt: float) -> int:
    return round(MARGIN / 25.4 * 72 * width_px / page_width_pt)


async def test_the_first_page_renders_and_a_4000_character_chronology_stays_inside_the_margins(desk: Desk) -> None:
    words = " ".join(f"kata{n}" for n in range(300))
    chronology = (words + " " + "x" * 1500 + " " + "Sekretaris Dinas membagikan amplop. " * 80)[:4000]
    assert len(chronology) == 4000
    case = await desk.file(Report(description=chronology, place="Aula " + "sangat-panjang-" * 19,
                                  files=[("photo", jpeg_with_gps(800, 600, noise=True), "image/jpeg")]),
                           "reporter-1")
    made = await desk.make(case, MODERATOR)
    body = [line for line in text_of(made.data).splitlines() if not line.startswith(f"{case.number} · dibuat")]
    assert "".join(chronology.split()) in "".join("".join(body).split()), "the whole chronology, in order"
    pdf = pdfium.PdfDocument(made.data)
    assert len(pdf) >= 2
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for index in range(len(pdf)):
        page = pdf[index]
        width_pt, height_pt = page.get_size()
        textpage = page.get_textpage()
        boxes = [textpage.get_charbox(i) for i in range(textpage.count_chars())]
        drawn = [b for b in boxes if b[2] > b[0]]  # spaces and line breaks have no width
        margin_pt = MARGIN / 25.4 * 72
        assert min(b[0] for b in drawn) >= margin_pt - 0.5, f"page {index + 1}: text left of the margin"
        assert max(b[2] for b in drawn) <= width_pt - margin_pt + 0.5, f"page {index + 1}: text past the margin"
        assert min(b[1] for b in drawn) >= 0 and max(b[3] for b in drawn) <= height_pt - margin_pt + 0.5
        image = page.render(scale=1.5).to_pil().convert("L")
        if index == 0:
            image.save(ARTIFACTS / "case_file_page1.png")
        px = image.load()
        w, h = image.size
        strip = margins_px(w, width_pt) - 2
        outside = [px[x, y] for y in range(0, h, 2) for x in (*range(0, strip), *range(w - strip, w))]
        assert min(outside) > 245, f"page {index + 1}: ink in the side margins"
        inked = sum(1 for y in range(0, h, 3) for x in range(0, w, 3) if px[x, y] < 128)
        assert inked > (2000 if index == 0 else 50), f"page {index + 1} looks blank"
    first = Image.open(ARTIFACTS / "case_file_page1.png")
    assert first.size[0] > 800 and first.getextrema()[0] < 50, "the artefact is a real picture of page 1"


async def test_a_retry_sends_the_very_file_recorded_and_erasure_drops_a_waiting_copy(desk: Desk) -> None:
    case = await desk.file(Report(identity="rahasia"), "reporter-1")
    order = Order(case.id, MODERATOR, "telegram:2", "Moderator Made")
    async with desk.db.transaction() as tx:
        from flows.case import case_file

        first_delivery = await case_file.order(tx, order, 2, NOW.isoformat())
        assert await case_file.order(tx, order, 2, NOW.isoformat()) is None, "a double press makes one file"
        second_delivery = await case_file.order(tx, order, 1, NOW.isoformat())
    assert first_delivery is not None and second_delivery is not None
    first = await desk.files.for_delivery(first_delivery, order)
    again = await desk.files.for_delivery(first_delivery, order)
    assert isinstance(first, Made) and isinstance(again, Made)
    assert again.data == first.data and again.sha256 == first.sha256, "a retry sends the same bytes"
    await desk.files.done(first_delivery)
    assert await desk.files.for_delivery(first_delivery, order) == ALREADY_SENT
    waiting = await desk.files.for_delivery(second_delivery, order)
    assert isinstance(waiting, Made) and b"%PDF" in waiting.data[:8]
    assert "Siti Aminah" in text_of(waiting.data)
    async with desk.db.transaction() as tx:
        await data_rights.erase(tx, "test", "reporter-1", NOW.isoformat())
    redone = await desk.files.for_delivery(second_delivery, order)
    assert isinstance(redone, Made) and redone.sha256 != waiting.sha256
    assert "Siti" not in text_of(redone.data), "the copy made before the erasure is never sent"
    async with desk.db.reading() as tx:
        events = [e for e in await cases.events_of(tx, case.id) if e.kind == "case_file"]
        register = await case_files.of_case(tx, case.id)
    assert [e.note.split()[1] for e in events if e.note] == [first.sha256, waiting.sha256, redone.sha256]
    assert [f.data is not None for f in register] == [False, False, True]


async def test_the_shell_command_writes_the_file_and_records_it(desk: Desk, backend: Backend,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    tmp_path = backend.tmp_path
    case = await desk.file(Report(identity="rahasia"), "reporter-1")
    for name, value in backend.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    out = tmp_path / "out" / "berkas.pdf"
    assert await _run_main(["berkas", case.number.lower().replace("-", " "), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    data = out.read_bytes()
    assert f"SHA-256 {hashlib.sha256(data).hexdigest()}" in printed
    assert "Siti" not in text_of(data), "without --identity, no identity"
    with_identity = tmp_path / "with.pdf"
    assert await _run_main(["berkas", case.number, "--out", str(with_identity), "--identity"]) == 0
    assert "Siti Aminah" in text_of(with_identity.read_bytes())
    assert await _run_main(["berkas", "LN-24-ZZZZZ"]) == 2, "a case that is not there: bad input, as in every shell command"
    assert await _run_main(["berkas", "bukan-nomor"]) == 2
    async with desk.db.reading() as tx:
        events = [e for e in await cases.events_of(tx, case.id) if e.kind == "case_file"]
    assert [(e.actor, e.note.split()[1] if e.note else None) for e in events] == [
        ("shell", hashlib.sha256(data).hexdigest()), ("shell", hashlib.sha256(with_identity.read_bytes()).hexdigest())]


async def _run_main(argv: list[str]) -> int:
    """`python -m bot ...` runs its own event loop: run it in a thread. It sets up logging
    for the process (a handler on this test's captured stderr): put it back afterwards."""
    import asyncio

    with logging_as_it_was():
        return await asyncio.to_thread(main, argv)


async def test_hostile_text_is_shown_safely_and_logs_nothing_of_it(desk: Desk, caplog: pytest.LogCaptureFixture) -> None:
    hostile = "Amplop 🙏 \u202eterbalik\u202c nol\x07byte tab\there 中文 <b>tebal</b> ñ ẞ " + "ajakan memilih " * 3
    case = await desk.file(Report(description=hostile, person="<script>Budi</script>", place="\u200bAula\u200d"),
                           "reporter-1")
    with caplog.at_level("INFO"):
        made = await desk.make(case, MODERATOR)
    text = flat(text_of(made.data))
    assert "Amplop ? terbalik nolbyte tab here ?? <b>tebal</b> ñ ẞ ajakan memilih" in text, text[:2000]
    assert "Nama <script>Budi</script>" in text and "Tempat Aula" in text
    assert not [r for r in caplog.records if r.name.startswith("fpdf")], "fpdf2 warned (it quotes missing glyphs)"
    assert not any("Amplop" in r.getMessage() or "Budi" in r.getMessage() for r in caplog.records)


# --- issue 30: what an officer sees on the first page, and how pages break -----------------

HEADINGS = {"Kasus", "Terlapor", "Dugaan pelanggaran", "Tempat", "Kronologi", "Saksi", "Pelapor", "Bukti",
            "Laporan terkait", "Jejak audit", "Berkas ini", "Tanda terima"}
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def pages_of(data: bytes, number: str) -> list[list[str]]:
    """Each page's lines as PDFium's text layer gives them (what `pdftotext` gives for a
    one-column page: PDFium is the engine that renders the page in the tests above), the
    footer left out."""
    pdf = pdfium.PdfDocument(data)
    pages = []
    for index in range(len(pdf)):
        text = pdf[index].get_textpage().get_text_range()
        lines = [line.strip() for line in text.replace("\r", "").split("\n") if line.strip()]
        pages.append([line for line in lines if not line.startswith(f"{number} · dibuat")
                      and not re.fullmatch(r"Halaman \d+ dari \d+", line)])
    return pages


async def test_file_kinds_in_words_sizes_read_at_a_glance_and_a_receipt_to_sign(desk: Desk) -> None:
    files = [("document", b"hallo", DOCX), ("photo", jpeg_with_gps(), "image/jpeg"),
             ("video", b"\x00\x00\x00\x18ftypmp42" + bytes(3000), "video/mp4"),
             ("document", b"%PDF-1.4\n" + bytes(2_500_000), "application/pdf")]
    case = await desk.file(Report(files=files), "reporter-1")
    text = flat(text_of((await desk.make(case, MODERATOR)).data))
    assert "Jenis Dokumen Word" in text and "Jenis Foto JPEG" in text and "Jenis Video MP4" in text
    assert "Jenis Dokumen PDF" in text
    assert not re.search(r"\b(application|image|video)/", text), "no raw MIME type"
    assert "Ukuran 5 byte" in text and " 0 KB" not in text and "Ukuran 0," not in text
    assert "Ukuran 2,4 MB (2.500.009 byte)" in text
    assert "Instansi SMPN 1 Denpasar Jenis instansi Pemerintah Daerah · Sekolah negeri" in text
    assert "Kelompok instansi" not in text
    assert "Lapor Netral · laporan dugaan pelanggaran netralitas ASN" in text
    assert re.search(r"Tanda terima Diterima oleh Jabatan dan kantor Tanggal Tanda tangan", text), text[-600:]


@pytest.mark.parametrize("group, subtitle, employment", [
    ("desa", "netralitas kepala desa atau perangkat desa", "Bukan ASN"),
    ("bumn_bumd", "netralitas pegawai BUMN/BUMD", "Bukan ASN"),
    ("tni_polri", "netralitas anggota TNI/Polri", "Bukan ASN"),
])
async def test_the_subtitle_follows_who_the_person_is(desk: Desk, group: str, subtitle: str, employment: str) -> None:
    case = await desk.file(Report(agency_group=group, agency_unit=None, agency_name="Desa Dalung"), "reporter-1")
    text = flat(text_of((await desk.make(case, MODERATOR)).data))
    assert f"Lapor Netral · laporan dugaan pelanggaran {subtitle}" in text
    assert "netralitas ASN" not in text
    assert f"Status kepegawaian {employment}" in text


@pytest.mark.slow  # exhaustive: 22 page layouts
async def test_no_heading_is_the_last_line_of_a_page(desk: Desk) -> None:
    """A chronology a line longer each time moves every later heading (witnesses, reporter,
    evidence, related reports, audit trail, this file) down past the foot of a page, 5 mm
    at a time: none is ever left there without what it heads."""
    moved = set()
    for n in range(0, 44, 2):
        chronology = "\n".join(f"{k}. Kepala dinas mengajak pegawai memilih paslon 2." for k in range(n + 1))
        files = [("photo", jpeg_with_gps(shade=5 * n + k), "image/jpeg") for k in range(2)]
        case = await desk.file(Report(description=chronology, files=files), f"reporter-{n}")
        pages = pages_of((await desk.make(case, MODERATOR)).data, case.number)
        for index, lines in enumerate(pages[:-1]):
            last = lines[-1]
            assert last not in HEADINGS and not re.fullmatch(r"Bukti \d+", last), (n, index + 1, lines[-3:])
            moved.add(pages[index + 1][0])
    assert len(moved & HEADINGS) >= 3, f"headings were not moved across page breaks: {moved}"
