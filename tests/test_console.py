"""The README's promise: with no token, `python -m bot` is a console chat in which a full
report can be filed offline, and `python -m bot cases` shows it. The console is driven
through pipes, as a person (or a script) would; tests/transcripts/console/ holds golden
sessions of it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from flows.dates import read_date
from tests.backends import Backend
from tests.console_driver import ConsoleSession, console_env

pytestmark = pytest.mark.slow  # the console as a process

SCRIPT = [
    "halo", "1", "denpasar", "1", "8", "SMPN 1 Denpasar", "Budi Santoso", "Kepala Sekolah",
    "1", "2", "19/11/2024", "2", "Ruang guru", "lokasi -8.65, 115.21",
    "Kepala sekolah mengunggah ajakan memilih paslon 2 di grup WhatsApp guru.", "1",
    "{photo}", "{photo2} {doc}", "1", "1", "1",
]


def run_bot(args: list[str], backend: Backend, stdin: str = "", check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_", "DATABASE_"))}
    env.update(backend.env())
    return subprocess.run([sys.executable, "-m", "bot", *args], input=stdin, capture_output=True,
                          text=True, env=env, cwd=backend.tmp_path, timeout=60, check=check)


def test_full_report_in_the_console(backend: Backend) -> None:
    tmp_path = backend.tmp_path
    photo, photo2, doc = tmp_path / "bukti.jpg", tmp_path / "bukti2.png", tmp_path / "surat.pdf"
    photo.write_bytes(b"\xff\xd8\xff\xe0 fake jpeg")
    photo2.write_bytes(b"\x89PNG fake png")
    doc.write_bytes(b"%PDF-1.4 fake")
    lines = [line.format(photo=photo, photo2=photo2, doc=doc) for line in SCRIPT]
    result = run_bot([], backend, "\n".join(lines) + "\n")
    assert "Selamat datang di Lapor Netral" in result.stdout
    assert "(Balas dengan angka 1–2.)" in result.stdout
    assert "Terima kasih. Laporan Anda sudah diterima dengan nomor LN-" in result.stdout
    assert "menunggu petugas ditetapkan" in result.stdout, "the ending says what happens next"
    assert "Kami masih mencari petugas" not in result.stdout, "and nothing contradicts it"
    assert result.stderr == "" and "WARNING" not in result.stdout, "logs go to the file, not the terminal"
    assert "an alert was not sent" in (tmp_path / "console.log").read_text(encoding="utf-8")  # beside DATABASE_PATH

    with backend.connect() as db:
        (number, region, identity), = db.execute("SELECT number, region_code, identity_mode FROM cases")
        evidence = db.execute("SELECT kind, mime, sha256, size FROM evidence ORDER BY position").fetchall()
    assert (region, identity) == ("51.71", "anonim")
    assert [(k, m) for k, m, _, _ in evidence] == [
        ("photo", "image/jpeg"), ("photo", "image/png"), ("document", "application/pdf")]
    for _kind, _mime, sha, size in evidence:
        if backend.postgres:  # the bytes are in the database, where every worker finds them
            with backend.connect() as db:
                assert db.execute("SELECT size FROM evidence_blobs WHERE sha256 = ?", (sha,)).fetchall() == [(size,)]
        else:
            stored = tmp_path / "evidence" / sha[:2] / sha
            assert stored.exists() and stored.stat().st_size == size

    listing = run_bot(["cases", "--lang", "id"], backend)
    assert number in listing.stdout and "Kota Denpasar" in listing.stdout and "Menunggu petugas" in listing.stdout

    added = run_bot(["routes", "add", "denpasar", "-1001234"], backend)
    assert "Kota Denpasar (51.71)" in added.stdout and number in added.stdout, "the waiting case is forwarded"
    with backend.connect() as db:
        queued = db.execute("SELECT address, kind, status FROM outbox WHERE kind = 'post_case'").fetchall()
    assert queued == [("-1001234", "post_case", "pending")], "it goes out when the Telegram bot runs"


def test_routes_from_the_shell(backend: Backend) -> None:
    csv = backend.tmp_path / "bali.csv"
    csv.write_text("region,chat_id,agency,title\n51.03,-100201,,Fokus Badung\nKota Denpasar,-100202,,\n"
                   "51,-100203,pusat,Vertikal Bali\nentah,-100204,,\n", encoding="utf-8")
    imported = run_bot(["routes", "import", str(csv), "--lang", "en"], backend, check=False)
    assert imported.returncode == 1, "a file with a bad row says so"
    assert "3 routes added" in imported.stdout and 'line 5: "entah" is not a region' in imported.stderr
    listing = run_bot(["routes", "list"], backend).stdout
    assert "Kabupaten Badung (51.03)" in listing and "-100201" in listing
    assert "Bali (51) · Instansi pusat/vertikal" in listing
    run_bot(["routes", "remove", "-100202"], backend)
    assert "-100202" not in run_bot(["routes", "list"], backend).stdout


def test_quitting_and_coming_back_resumes_in_the_console(backend: Backend) -> None:
    run_bot(["console"], backend, "halo\n1\nbali\n/keluar\n")
    again = run_bot(["console"], backend, "/bantuan\n")
    assert "Kabupaten/kota mana di Bali?" in again.stdout


def test_relative_dates_and_words_in_the_real_console(backend: Backend) -> None:
    """Done when: a kepala desa in Kabupaten Badung, typed as the review typed it (relative
    dates too), goes through the real console without "tidak ditemukan" or "tidak dapat dibaca"."""
    typed = ["halo", "ya", "kab badung", "desa", "Desa Dalung", "I Made Sudarma", "Kepala desa", "ajakan",
             "28 nov", "2 hari lalu", "Balai Desa Dalung", "lewati",
             "Kepala desa mengumpulkan warga di balai desa dan mengajak memilih paslon 1.", "lewati",
             "selesai", "lanjut tanpa bukti", "anonim", "kirim"]
    result = run_bot(["console"], backend, "\n".join(typed) + "\n")
    assert "tidak ditemukan" not in result.stdout and "tidak dapat dibaca" not in result.stdout, result.stdout
    assert "Terima kasih. Laporan Anda sudah diterima" in result.stdout
    # the console's today is Jakarta's (the test and the console run on the same day, nearly always)
    today = datetime.now(ZoneInfo("Asia/Jakarta")).date()
    with backend.connect() as db:
        row = db.execute("SELECT region_code, agency_group, person_status, occurred_on, learned_on FROM cases").fetchone()
    assert row[:3] == ("51.03", "desa", "bukan_asn")
    assert row[3] in {str(read_date("28 nov", day).value) for day in (today, today - timedelta(days=1))}
    assert row[4] in {str(day - timedelta(days=2)) for day in (today, today - timedelta(days=1))}


def test_ctrl_c_and_ctrl_d_end_with_one_line(backend: Backend) -> None:
    tmp_path = backend.tmp_path
    env = console_env(tmp_path, backend.env())
    session = ConsoleSession(tmp_path, env)
    try:
        session.start()
        session.send("halo")
        session.send("1")
        rest, code = session.interrupt()
        assert rest.strip() == ("Sampai jumpa. Laporan Anda yang belum selesai tetap tersimpan: buka konsol lagi "
                                "untuk melanjutkannya."), rest
        assert code == 0 and session.stderr_text() == "", "no traceback, on the screen or on stderr"
    finally:
        session.close()
    session = ConsoleSession(tmp_path, env)
    try:
        opening = session.start()
        assert "Ada laporan yang sedang Anda isi" in opening and "Di mana kejadiannya?" in opening
        rest, code = session.eof()
        assert rest.strip().startswith("Sampai jumpa. Laporan Anda yang belum selesai tetap tersimpan")
        assert len(rest.strip().splitlines()) == 1 and code == 0
    finally:
        session.close()


def test_status_without_the_slash_as_the_console_suggests(backend: Backend) -> None:
    photo = backend.tmp_path / "bukti.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0 fake jpeg")
    lines = [line.format(photo=photo, photo2=photo, doc=photo) for line in SCRIPT]
    first = run_bot([], backend, "\n".join(lines) + "\n").stdout
    number = re.findall(r"LN-\d{2}-[0-9A-Z]{5}", first)[-1]
    again = run_bot(["console"], backend, f"status {number}\n").stdout
    assert f"{number}: Menunggu petugas" in again
