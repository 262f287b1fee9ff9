"""Every file is cleaned in a separate, disposable worker process with a memory and a time
limit (`cleaning/pool.py`): a file that exceeds either, or whose worker dies, is unsafe
("too_large", "too_slow"), kept for the moderators like any other unsafe file, and the
report goes on. The service process itself never decodes a reporter's file."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import cleaning
from bot.config import Settings
from cleaning import Cleaned, Unsafe
from cleaning.pdf import clean_pdf
from cleaning.pool import CleaningPool, Limits, shared
from storage import Database, cleaned_files
from tests import fake_telegram as tg
from tests import hostile_files as hostile
from tests.backends import Backend
from tests.fake_telegram import FakeTelegram
from tests.telegram_harness import Reporter, polling_bot, settings_for
from tests.test_reporter_safety import GROUP, REPORTER, submit_with

ROOT = Path(__file__).parent.parent


def run_child(script: str, *args: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120, check=False,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": "."})
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout.splitlines()[-1]))


# --- budgets checked before decoding ---------------------------------------------------------

@pytest.mark.slow  # measured in a process of its own
def test_the_pixel_budget_covers_the_colour_mode(tmp_path: Path) -> None:
    """A 170 KB one-colour 6300×6300 RGBA PNG is under 40 megapixels, but decodes to 160 MB
    and cost 635 MB to clean: the budget counts bytes per pixel, in and out."""
    path = tmp_path / "flat.png"
    path.write_bytes(hostile.flat_png(6300, "RGBA"))
    script = (
        "import json, sys, cleaning\n"
        "result = cleaning.clean(open(sys.argv[1], 'rb').read(), 'image/png')\n"
        "peak = int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])\n"
        "print(json.dumps({'type': type(result).__name__, 'reason': getattr(result, 'reason', None),"
        " 'peak_kb': peak}))\n"
    )
    outcome = run_child(script, str(path))
    assert outcome["type"] == "Unsafe" and outcome["reason"] == "too_large", outcome
    assert int(str(outcome["peak_kb"])) < 150 * 1024, outcome
    small = cleaning.clean(hostile.flat_png(2000, "RGBA"), "image/png")
    assert isinstance(small, Cleaned) and (small.width, small.height) == (2000, 2000), "an ordinary image still goes"
    grey = cleaning.clean(hostile.flat_png(6300, "L"), "image/png")
    assert isinstance(grey, Cleaned), "one byte per pixel: the same size fits"


def test_the_pdf_cleaner_stops_at_an_object_budget_and_a_time_budget() -> None:
    data = hostile.many_objects_pdf(5000)
    assert clean_pdf(data, max_objects=1000) == Unsafe("too_large")
    assert clean_pdf(data, deadline=time.monotonic()) == Unsafe("too_slow")
    assert isinstance(clean_pdf(data), Cleaned)
    assert cleaning.clean(data, "application/pdf", deadline=time.monotonic()) == Unsafe("too_slow")


def test_the_object_count_is_read_before_the_pdf_is_opened() -> None:
    """Opening the attack round's PDF alone took 383 MB: the declared size refuses it first."""
    data = hostile.many_objects_pdf(20_000)
    started = time.perf_counter()
    assert clean_pdf(data, max_objects=10_000) == Unsafe("too_large")
    assert time.perf_counter() - started < 0.5


# --- the pool ----------------------------------------------------------------------------------

@pytest.mark.slow  # measured in a process of its own
def test_the_service_process_never_decodes_a_file(tmp_path: Path) -> None:
    """`clean_async`, what the service calls, hands the bytes to a worker: none of the
    decoders is even imported in the calling process."""
    for name, data in (("photo.jpg", hostile.jpeg()), ("doc.pdf", hostile.pdf())):
        (tmp_path / name).write_bytes(data)
    script = (
        "import asyncio, json, sys, cleaning\n"
        "async def main():\n"
        "    return [await cleaning.clean_async(open(p, 'rb').read(), None) for p in sys.argv[1:]]\n"
        "results = asyncio.run(main())\n"
        "loaded = sorted(m for m in ('PIL', 'pikepdf', 'av', 'pillow_heif') if m in sys.modules)\n"
        "print(json.dumps({'types': [type(r).__name__ for r in results], 'loaded': loaded}))\n"
    )
    outcome = run_child(script, str(tmp_path / "photo.jpg"), str(tmp_path / "doc.pdf"))
    assert outcome == {"types": ["Cleaned", "Cleaned"], "loaded": []}


async def wait_busy(pool: CleaningPool, timeout: float = 20.0, steady: float = 0.3) -> int:
    """The pid of a worker that has had a whole file for `steady` seconds (the slow one:
    the others here take milliseconds) and is cleaning it."""
    deadline = time.monotonic() + timeout
    since: dict[int, float] = {}
    while True:
        now = time.monotonic()
        assert now < deadline, "no worker took the file"
        since = {pid: since.get(pid, now) for pid in set(pool.busy)}
        steady_ones = [pid for pid, at in since.items() if now - at >= steady]
        if steady_ones:
            return steady_ones[0]
        await asyncio.sleep(0.01)


@pytest.mark.slow  # SIGKILL of a cleaning worker
async def test_a_worker_killed_mid_file_makes_it_unsafe_and_is_replaced() -> None:
    pool = CleaningPool(Limits(workers=1, memory_mb=1024, seconds=60))
    try:
        cleaning_it = asyncio.create_task(pool.clean(hostile.many_objects_pdf(60_000), "application/pdf"))
        victim = await wait_busy(pool)
        os.kill(victim, signal.SIGKILL)
        assert await cleaning_it == Unsafe("too_large")
        after = await pool.clean(hostile.jpeg(), "image/jpeg")
        assert isinstance(after, Cleaned), "a fresh worker took its place"
        assert victim not in pool.worker_pids()
    finally:
        pool.close()


async def test_a_file_over_the_time_limit_is_too_slow_and_the_next_one_is_cleaned() -> None:
    pool = CleaningPool(Limits(workers=1, memory_mb=1024, seconds=1.0))
    try:
        assert await pool.clean(hostile.many_objects_pdf(60_000), None) == Unsafe("too_slow")
        assert isinstance(await pool.clean(hostile.jpeg(), None), Cleaned)
    finally:
        pool.close()


async def test_a_file_over_the_memory_limit_is_too_large_and_the_next_one_is_cleaned() -> None:
    """4000×4000 RGBA is within the pixel budget (128 MB to decode and copy) but not within
    a worker whose address space is 220 MB (its libraries take ~175 MB of it)."""
    pool = CleaningPool(Limits(workers=1, memory_mb=220, seconds=30))
    try:
        assert await pool.clean(hostile.flat_png(4000, "RGBA"), None) == Unsafe("too_large")
        assert isinstance(await pool.clean(hostile.jpeg(), None), Cleaned)
    finally:
        pool.close()


async def test_thumbnails_are_made_in_a_worker_too() -> None:
    pool = CleaningPool(Limits(workers=1, memory_mb=512, seconds=30))
    try:
        cleaned = await pool.clean(hostile.flat_png(2000, "RGB"), None)
        assert isinstance(cleaned, Cleaned)
        made = await pool.thumbnail(cleaned.data, 480)
        assert made is not None and made[1:] == (480, 480) and made[0].startswith(b"\xff\xd8")
        assert await pool.thumbnail(b"not an image", 480) is None
    finally:
        pool.close()


async def test_many_files_at_once_wait_for_a_worker_instead_of_piling_up() -> None:
    pool = CleaningPool(Limits(workers=2, memory_mb=512, seconds=30))
    try:
        results = await asyncio.gather(*(pool.clean(hostile.flat_png(6300, "RGBA"), None) for _ in range(10)),
                                       pool.clean(hostile.jpeg(), None))
        assert results[:10] == [Unsafe("too_large")] * 10 and isinstance(results[10], Cleaned)
        assert len(pool.worker_pids()) == 2
    finally:
        pool.close()


# --- end to end: the report goes on --------------------------------------------------------------

@pytest.fixture
def file_settings(fake: FakeTelegram, backend: Backend) -> Settings:
    return settings_for(fake, backend, admin_telegram_ids=[4242], delivery_poll_seconds=0.05,
                        delivery_backoff_seconds=0.1, telegram_timeout=2.0)


@pytest.mark.slow  # SIGKILL of a cleaning worker
async def test_a_cleaning_worker_killed_mid_file_leaves_the_file_unsafe_and_the_report_filed(
        fake: FakeTelegram, file_settings: Settings) -> None:
    r = Reporter(fake, REPORTER)
    slow = hostile.many_objects_pdf(60_000)
    evidence = [tg.document(fake, REPORTER, "laporan.pdf", slow), tg.photo(fake, REPORTER, "foto-1", hostile.jpeg())]
    pool = shared()
    async with polling_bot(file_settings):
        fake.push(tg.group_text(GROUP, "/daftar_fokus 51.71", 4242))
        await fake.wait_for(lambda: bool(fake.texts(GROUP)))
        number = await submit_with(r, evidence)
        victim = await wait_busy(pool)
        os.kill(victim, signal.SIGKILL)
        await fake.wait_for(lambda: any("disimpan untuk moderator" in t for t in fake.texts(GROUP)), timeout=30)
    texts = fake.texts(GROUP)
    assert any(number in t and "Laporan" in t for t in texts), "the card reached the group"
    assert any(f"{number}: 1 file disimpan untuk moderator" in t for t in texts), texts
    photos = [c for c in fake.calls if c.method == "sendPhoto" and str(c.params.get("chat_id")) == str(GROUP)]
    assert len(photos) == 1, "the photo that could be cleaned went out"
    db = await Database.open(file_settings.database)
    try:
        async with db.reading() as tx:
            known = await cleaned_files.get(tx, tg_sha(slow))
    finally:
        await db.close()
    assert known is not None and known.clean_sha256 is None and known.unsafe_reason == "too_large"
    assert victim not in pool.worker_pids()


def tg_sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()
