"""Issue 29, a shell that speaks as a shell: the operator's language, only the result on the
screen, bad input refused in one line (exit code 2) that leaves no file behind and changes
nothing, times in the service's zone with its name, and personal data written privately.
Each command runs as a real process (`python -m bot ...`) on a seeded SQLite file."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from flows.engine import Engine
from flows.policy import Policy
from storage import Database, cases
from tests.backends import Backend
from tests.chat import HAPPY_PATH, Chat

pytestmark = pytest.mark.slow  # every shell command as a process

ROOT = Path(__file__).resolve().parent.parent
GROUP = -100201


def environment(folder: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TELEGRAM_", "TWILIO_", "DATABASE_", "PUBLIC_", "EVIDENCE_", "LC_", "LANG"))}
    env.update({"PYTHONPATH": str(ROOT), "LANG": "C.UTF-8", **extra})
    return env


def shell(folder: Path, *args: str, **extra: str) -> tuple[int, list[str], list[str]]:
    """`python -m bot ...` in `folder` (its ./data is the installation): exit code, stdout
    lines, stderr lines."""
    done = subprocess.run([sys.executable, "-m", "bot", *args], cwd=folder, env=environment(folder, **extra), check=False,
                          capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout.splitlines(), done.stderr.splitlines()


async def _seed(folder: Path, waiting: bool = False) -> str:
    """One case (from the report flow) and, unless `waiting`, a route for its region."""
    db = await Database.open(folder / "data" / "lapor.db")
    try:
        if not waiting:
            from flows.staff import route_admin

            async with db.transaction() as tx:
                await route_admin.add(tx, Policy(), "51.71", GROUP, title="Fokus Denpasar", by="test",
                                      at="2024-11-20T00:00:00+00:00")
        await Chat(Engine(db), address="111222333").run(*HAPPY_PATH, "@send")
        async with db.reading() as tx:
            return (await cases.recent(tx, 1))[0].number
    finally:
        await db.close()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    import asyncio

    folder = tmp_path_factory.mktemp("seeded")
    number = asyncio.run(_seed(folder))
    return folder, number


@pytest.fixture
def installation(seeded: tuple[Path, str], tmp_path: Path) -> tuple[Path, str]:
    """A copy of the seeded installation, for one test."""
    folder, number = seeded
    shutil.copytree(folder / "data", tmp_path / "data")
    return tmp_path, number


def snapshot(folder: Path) -> tuple[list[str], list[str]]:
    """Every row of the database and every file in the folder (names)."""
    with sqlite3.connect(folder / "data" / "lapor.db") as db:
        rows = list(db.iterdump())
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                   if p.is_file() and not p.name.startswith("lapor.db"))
    return rows, files


BAD_INPUT = [
    ("export", "--since", "2026-13-01"),
    ("export", "--since", "1/12/2026"),
    ("export", "--until", "2026-02-30"),
    ("export", "--since", "2026-12-05", "--until", "2026-12-01"),
    ("export", "--region", "99.99"),
    ("export", "--status", "entah"),
    ("export", "--type", "entah"),
    ("export", "--out", "routes.csv"),
    ("export", "--format", "pdf"),
    ("routes", "add", "99.99", "-100123"),
    ("routes", "add", "Jaya", "-100123"),
    ("routes", "add", "51.71", "12345"),
    ("routes", "add", "51.71", "abc"),
    ("routes", "add", "51.71", "-100123", "--agency", "entah"),
    ("routes", "remove", "-999"),
    ("routes", "remove", str(GROUP), "51.03"),
    ("routes", "remove", str(GROUP), "99.99"),
    ("routes", "import", "tidak-ada.csv"),
    ("routes", "import", "no-columns.csv"),
    ("berkas", "bukan-nomor"),
    ("berkas", "LN-24-ZZZZZ"),
    ("berkas", "{number}", "--out", "data"),
    ("statistik", "2026-13"),
    ("statistik", "0"),
    ("statistik", "--out", "grafik.jpg"),
    ("cases", "--limit", "0"),
    ("cases", "--bogus"),
    ("migrate-db", "--to", "mysql://localhost/lapor"),
]


@pytest.mark.parametrize("args", BAD_INPUT, ids=[" ".join(a) for a in BAD_INPUT])
def test_bad_input_is_one_line_exit_2_no_file_and_no_change(installation: tuple[Path, str], args: tuple[str, ...]) -> None:
    folder, number = installation
    (folder / "routes.csv").write_text("region,chat_id\n51.03,-100202\n", encoding="utf-8")
    (folder / "no-columns.csv").write_text("wilayah;grup\n51.03;-100202\n", encoding="utf-8")
    before = snapshot(folder)
    code, out, err = shell(folder, *(a.format(number=number) for a in args))
    assert code == 2, (out, err)
    assert out == [] and len(err) == 1, (out, err)
    assert "Traceback" not in err[0]
    assert snapshot(folder) == before, "nothing changed, no file left"


def test_a_case_file_prints_at_most_three_lines_and_is_private(installation: tuple[Path, str]) -> None:
    """Before: 110-150 lines of fontTools' subsetting INFO logs."""
    folder, number = installation
    code, out, err = shell(folder, "berkas", number, "--out", "f.pdf")
    assert code == 0, err
    assert len(out + err) <= 3, out + err
    assert out[0] == "f.pdf" and out[1].startswith("SHA-256 ")
    assert (folder / "f.pdf").read_bytes().startswith(b"%PDF")
    assert stat.S_IMODE((folder / "f.pdf").stat().st_mode) == 0o600
    code, out, err = shell(folder, "berkas", number, "--verbose", "--out", "g.pdf")
    assert code == 0 and len(out + err) > 3, "--verbose shows the libraries' information"


def test_personal_data_goes_to_a_private_folder_that_git_ignores(installation: tuple[Path, str]) -> None:
    folder, number = installation
    code, out, err = shell(folder, "export", "--identity")
    assert code == 0, err
    assert out[-1] == "1 kasus diekspor, dengan identitas pelapor."
    code, berkas, err = shell(folder, "berkas", number)
    assert code == 0, err
    written = [Path(line) for line in out[:-1] + berkas[:1]]
    assert [p.suffix for p in written] == [".csv", ".xlsx", ".pdf"]
    for path in written:
        assert path.parts[:2] == ("data", "exports"), path
        assert stat.S_IMODE((folder / path).stat().st_mode) == 0o600, path
        ignored = subprocess.run(["git", "check-ignore", "--no-index", "-q", str(path)], cwd=ROOT, check=False)
        assert ignored.returncode == 0, f"{path} is not covered by .gitignore"
    assert stat.S_IMODE((folder / "data" / "exports").stat().st_mode) == 0o700
    assert not list(folder.glob("kasus-*")) and not list(folder.glob("*.pdf")), "nothing in the project folder"


def test_the_shell_speaks_one_language(installation: tuple[Path, str]) -> None:
    """Indonesian by default, English with --lang en or an English LANG, in a shell's voice."""
    folder, _number = installation
    code, out, _err = shell(folder, "routes", "add", "51.03", "-100202", "--title", "Fokus Badung")
    assert code == 0 and out == ["Rute ditambahkan: Kabupaten Badung (51.03) → Fokus Badung [-100202]."], out
    code, out, _err = shell(folder, "routes", "add", "51.03", "-100202", "--lang", "en")
    assert code == 0 and out == ["Route already there, and active: Kabupaten Badung (51.03) → Fokus Badung [-100202]."]
    code, out, err = shell(folder, "routes", "remove", "-999", LANG="en_US.UTF-8")
    assert code == 2 and err == ["Group -999 has no route; `python -m bot routes list` shows the routes."]
    code, out, err = shell(folder, "routes", "add", "51.71")
    assert code == 2 and err[0].startswith("python -m bot routes add: argumen berikut wajib diisi: chat_id"), err
    (folder / "routes.csv").write_text("region,chat_id,agency,title\n51.03,-100203,,A\n51.04,-100204,,B\n"
                                       "99.99,-100205,,C\n51.05,7,,D\n", encoding="utf-8")
    code, out, err = shell(folder, "routes", "import", "routes.csv", "--lang", "en")
    assert code == 1
    assert out == ["2 routes added from routes.csv."]
    assert err == ['line 4: "99.99" is not a region', "line 5: 7 is not a group (a group's id is negative)"]
    for word in ("Grup ini", "Kirim perintah", "group now receives"):
        assert word not in "\n".join(out + err), "the shell does not speak as a group chat"


async def test_a_route_that_queues_waiting_cases_says_so_and_when(tmp_path: Path) -> None:
    """Before: "Kasus yang menunggu dan kini diteruskan" while nothing was sent, and no audit entry."""
    number = await _seed(tmp_path, waiting=True)
    code, out, err = shell(tmp_path, "routes", "add", "Bali", str(GROUP))
    assert code == 0, err
    assert out[0] == f"Rute ditambahkan: Bali (51) → [{GROUP}]."
    assert out[1] == (f"1 kasus yang menunggu kini antre untuk dikirim: {number}. Layanan yang berjalan (run atau "
                      "serve) mengirimnya dalam hitungan detik; bila belum ada yang berjalan, begitu layanan dimulai.")
    with Backend("sqlite", tmp_path / "data").connect() as db:  # addresses as keyed hashes, notes sealed
        assert db.execute("SELECT status FROM cases").fetchall() == [("menunggu_rute",)], "not sent yet"
        assert db.execute("SELECT kind, status FROM outbox WHERE address = ?", (db.lookup(str(GROUP)),)).fetchall() == [
            ("post_case", "pending")], "queued for the group"
        assert [(actor, kind, db.open("case_events", "note", note)) for actor, kind, note in db.execute(
            "SELECT actor, kind, note FROM case_events WHERE kind = 'route_found'").fetchall()] == [
            ("shell", "route_found", "51")], "and the audit trail says so"


def test_cases_shows_local_times_with_the_zone_and_labels(installation: tuple[Path, str]) -> None:
    folder, number = installation
    code, out, err = shell(folder, "cases")
    assert code == 0, err
    with sqlite3.connect(folder / "data" / "lapor.db") as db:
        (created,) = db.execute("SELECT created_at FROM cases").fetchone()
    local = datetime.fromisoformat(created).astimezone(ZoneInfo("Asia/Jakarta"))
    assert out[0].split() == ["nomor", "diterima", "status", "berkas", "wilayah", "jenis"]
    assert out[1].startswith(f"{number}  {local:%Y-%m-%d %H:%M} WIB  Baru"), out
    assert "Kota Denpasar" in out[1] and "Kampanye di media sosial" in out[1]
    code, out, err = shell(folder, "cases", TIMEZONE="Asia/Makassar")
    assert f"{datetime.fromisoformat(created).astimezone(ZoneInfo('Asia/Makassar')):%Y-%m-%d %H:%M} WITA" in out[1]


def test_statistik_draws_the_chart_offline(installation: tuple[Path, str]) -> None:
    folder, _number = installation
    code, out, err = shell(folder, "statistik", "2024-11", "--out", "grafik.png")
    assert code == 0, err
    assert out == ["grafik.png", "Kasus pada 2024-11: 1"]
    with Image.open(folder / "grafik.png") as image:
        assert image.format == "PNG" and image.size[0] >= 800


def test_routes_take_an_officers_whatsapp_number_as_the_readme_writes_it(installation: tuple[Path, str]) -> None:
    """Issue 26: `python -m bot routes add 51.71 whatsapp:+62… --title …` as a real command
    line. Where WhatsApp is not set up, the operator is warned that the officer gets nothing
    until it is; where it is, not. `list` and `remove` take the same form (a local 08… is
    taken as Indonesian); a number too short to be one is one line and exit 2."""
    folder, _number = installation
    code, out, err = shell(folder, "routes", "add", "51.71", "whatsapp:+6281300000001", "--title", "Inspektorat Denpasar")
    assert code == 0, (out, err)
    assert "+6281300000001" in out[0] and "diundang" in out[0], out
    assert err == ["WhatsApp belum diatur di sini (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_WHATSAPP_FROM dan "
                   "PUBLIC_BASE_URL). Layanan tidak mengirim apa pun ke petugas ini sampai semuanya diatur."], err
    set_up = {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "t" * 32,
              "TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886", "PUBLIC_BASE_URL": "https://lapor.example.org"}
    code, out, err = shell(folder, "routes", "add", "51.71", "whatsapp:+6281300000002", **set_up)
    assert code == 0 and err == [], (out, err)
    code, out, _err = shell(folder, "routes", "list")
    listing = "\n".join(out)
    assert "Kota Denpasar (51.71) → Inspektorat Denpasar [WhatsApp]" in listing, listing
    assert "Petugas 1 whatsapp:+6281300000001" in listing and "Petugas 2 whatsapp:+6281300000002" in listing
    code, out, err = shell(folder, "routes", "remove", "whatsapp:+6281300000001")
    assert code == 0 and out == ["Nomor WhatsApp +6281300000001 tidak lagi menerima laporan."], (out, err)
    before = snapshot(folder)
    code, out, err = shell(folder, "routes", "add", "51.71", "whatsapp:+62813")
    assert code == 2 and out == [] and len(err) == 1 and "kode negara" in err[0], err
    assert snapshot(folder) == before
