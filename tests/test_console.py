"""The README's promise: with no token, `python -m bot` is a console chat in which a full
report can be filed offline, and `python -m bot cases` shows it."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

SCRIPT = [
    "halo", "1", "denpasar", "1", "8", "SMPN 1 Denpasar", "Budi Santoso", "Kepala Sekolah",
    "1", "2", "19/11/2024", "2", "Ruang guru", "lokasi -8.65, 115.21",
    "Kepala sekolah mengunggah ajakan memilih paslon 2 di grup WhatsApp guru.", "1",
    "{photo}", "{photo2} {doc}", "1", "1", "1",
]


def run_bot(args: list[str], tmp_path: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_"))}
    env.update(DATABASE_PATH=str(tmp_path / "lapor.db"), EVIDENCE_DIR=str(tmp_path / "evidence"))
    return subprocess.run([sys.executable, "-m", "bot", *args], input=stdin, capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=60, check=True)


def test_full_report_in_the_console(tmp_path: Path) -> None:
    photo, photo2, doc = tmp_path / "bukti.jpg", tmp_path / "bukti2.png", tmp_path / "surat.pdf"
    photo.write_bytes(b"\xff\xd8\xff\xe0 fake jpeg")
    photo2.write_bytes(b"\x89PNG fake png")
    doc.write_bytes(b"%PDF-1.4 fake")
    lines = [line.format(photo=photo, photo2=photo2, doc=doc) for line in SCRIPT]
    result = run_bot([], tmp_path, "\n".join(lines) + "\n")
    assert "Selamat datang di Lapor Netral" in result.stdout
    assert "(Balas dengan angka 1-2.)" in result.stdout
    assert "Terima kasih. Laporan Anda sudah diterima dengan nomor LN-" in result.stdout

    with sqlite3.connect(tmp_path / "lapor.db") as db:
        (number, region, identity), = db.execute("SELECT number, region_code, identity_mode FROM cases")
        evidence = db.execute("SELECT kind, mime, sha256, size FROM evidence ORDER BY position").fetchall()
    assert (region, identity) == ("51.71", "anonim")
    assert [(k, m) for k, m, _, _ in evidence] == [
        ("photo", "image/jpeg"), ("photo", "image/png"), ("document", "application/pdf")]
    for _kind, _mime, sha, size in evidence:
        stored = tmp_path / "evidence" / sha[:2] / sha
        assert stored.exists() and stored.stat().st_size == size

    listing = run_bot(["cases"], tmp_path)
    assert number in listing.stdout and "Kota Denpasar" in listing.stdout


def test_quitting_and_coming_back_resumes_in_the_console(tmp_path: Path) -> None:
    run_bot(["console"], tmp_path, "halo\n1\nbali\n/keluar\n")
    again = run_bot(["console"], tmp_path, "/bantuan\n")
    assert "Kabupaten/kota mana di Bali?" in again.stdout
