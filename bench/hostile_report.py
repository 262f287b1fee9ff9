"""Hostile files against the whole service (issue 28's target): one reporter files a report
with ten 6300×6300 one-colour RGBA PNGs (170 KB each, 160 MB each decoded) as documents, and
answers an officer's "Minta info" with a PDF of 1.15 million objects; meanwhile another
reporter keeps filing ordinary reports. The bot is `python -m bot run` in a process of its
own (polling the fake Bot API of tests/fake_telegram.py, which runs here), with its cleaning
workers.

It prints the peak RSS of the bot process and of the bot with all its child processes
(sampled every 50 ms), the other reporter's reply latency while the hostile files go
through, and what became of the report and its files. Targets: the service process under
200 MB, all its processes under 800 MB, the other reporter's p95 under 0.5 s, the report
filed with those files unsafe.

Usage: python bench/hostile_report.py [--pngs 10] [--pdf-objects 1150000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import fake_telegram as tg  # noqa: E402
from tests import hostile_files as hostile  # noqa: E402
from tests.fake_telegram import FakeTelegram  # noqa: E402
from tests.telegram_harness import Reporter  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ADMIN = 4242
OFFICER = 777
GROUP = -1001000000001
HOSTILE = 730111222
OTHER = 730111999


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def descendants(pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        children = [p for p, parent in parents.items() if parent == current]
        found += children
        frontier += children
    return found


class Chat:
    """A private chat driven without waiting for the whole bot to be quiet (another
    reporter is busy at the same time): each step waits for this chat's next answer."""

    def __init__(self, fake: FakeTelegram, chat_id: int) -> None:
        self.fake = fake
        self.reporter = Reporter(fake, chat_id)
        self.chat_id = chat_id
        self.latencies: list[float] = []

    def shown(self) -> int:
        return len(self.fake.shown(self.chat_id))

    async def send(self, update: dict[str, Any], answers: int = 1, timeout: float = 60.0) -> None:
        before = self.shown()
        started = time.monotonic()
        self.fake.push(update)
        await self.fake.wait_for(lambda: self.shown() >= before + answers, timeout)
        self.latencies.append(time.monotonic() - started)
        await self.settle(0.15)  # an answer in several messages is one answer

    async def settle(self, quiet: float = 0.5) -> None:
        """Until this chat has had no new message for `quiet` seconds (an answer in parts)."""
        while True:
            seen = self.shown()
            await asyncio.sleep(quiet)
            if self.shown() == seen:
                return

    async def say(self, text: str, answers: int = 1) -> None:
        await self.send(tg.text(self.chat_id, text), answers)

    async def press(self, option: str) -> None:
        try:
            update = self.reporter.press_update(option)
        except StopIteration:
            raise AssertionError(f"no {option!r} button; last: {self.fake.shown(self.chat_id)[-2:]}") from None
        await self.send(update)

    async def report_until_evidence(self, first: bool = True) -> None:
        if first:
            await self.say("/start", answers=2)
            await self.press("agree")
        else:  # a returning reporter is not asked to agree again
            await self.say("/start")
            await self.settle(0.2)
        await self.say("denpasar")
        await self.press("pemda")
        await self.press("sekolah")
        await self.say("SMPN 1 Denpasar")
        await self.say("Budi Santoso")
        await self.press("skip")
        await self.press("pns")
        await self.press("media_sosial")
        await self.say("19/11/2024")
        await self.press("same")
        await self.say("Ruang guru")
        await self.send(tg.location(self.chat_id, -8.65, 115.21))
        await self.say("Kepala sekolah mengunggah ajakan memilih paslon 2 di grup WhatsApp guru.")
        await self.press("skip")

    async def finish(self, files: bool) -> None:
        await self.press("done")
        if not files:
            await self.press("none")
        else:
            await self.settle()
        await self.press("anonim")
        await self.press("send")


async def keep_reporting(chat: Chat, stop: asyncio.Event) -> int:
    reports = 0
    while not stop.is_set():
        await chat.report_until_evidence(first=reports == 0)
        await chat.finish(files=False)
        reports += 1
    return reports


async def sample(pid: int, stop: asyncio.Event, peaks: dict[str, int]) -> None:
    while not stop.is_set():
        own = rss_kib(pid)
        total = own + sum(rss_kib(child) for child in descendants(pid))
        peaks["bot"] = max(peaks.get("bot", 0), own)
        peaks["all"] = max(peaks.get("all", 0), total)
        await asyncio.sleep(0.05)


def case_rows(db: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with sqlite3.connect(db) as conn:
        cases = conn.execute("SELECT number, status FROM cases ORDER BY id").fetchall()
        unsafe = conn.execute("SELECT unsafe_reason, count(*) FROM cleaned_files WHERE clean_sha256 IS NULL"
                              " GROUP BY unsafe_reason").fetchall()
    return cases, unsafe


async def main(pngs: int, pdf_objects: int) -> None:
    print(f"building the files: {pngs} PNGs of 6300x6300 RGBA, a PDF of {pdf_objects:,} objects ...", flush=True)
    images = [hostile.flat_png(6300, "RGBA", shade=200 + n) for n in range(pngs)]  # ten different files
    pdf = hostile.many_objects_pdf(pdf_objects)
    print(f"PNG {len(images[0]) / 1e3:.0f} KB each, PDF {len(pdf) / 1e6:.1f} MB", flush=True)
    fake = FakeTelegram()
    await fake.start()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TELEGRAM_BOT_TOKEN": tg.TOKEN,
               "TELEGRAM_BASE_URL": fake.api_url, "TELEGRAM_BASE_FILE_URL": fake.file_url,
               "DATABASE_PATH": f"{tmp}/lapor.db", "EVIDENCE_DIR": f"{tmp}/evidence",
               "ADMIN_TELEGRAM_IDS": str(ADMIN), "DELIVERY_POLL_SECONDS": "0.05", "LOG_LEVEL": "WARNING",
               "MAX_CASES_PER_DAY": "0", "MAX_MESSAGES_PER_MINUTE": "0"}
        log = open(f"{tmp}/bot.log", "w")  # noqa: SIM115
        bot = subprocess.Popen([sys.executable, "-m", "bot", "run"], env=env, cwd=ROOT, stdout=log, stderr=log)
        peaks: dict[str, int] = {}
        stop_sampling = asyncio.Event()
        sampler = asyncio.create_task(sample(bot.pid, stop_sampling, peaks))
        try:
            await fake.wait_for(lambda: bool(fake.sent("getUpdates")), 30)
            fake.push(tg.group_text(GROUP, "/daftar_fokus 51.71", ADMIN))
            await fake.wait_for(lambda: bool(fake.texts(GROUP)), 30)
            hostile_chat, other = Chat(fake, HOSTILE), Chat(fake, OTHER)
            await hostile_chat.report_until_evidence()
            baseline = dict(peaks)
            stop_other = asyncio.Event()
            other_task = asyncio.create_task(keep_reporting(other, stop_other))
            started = time.monotonic()
            for n in range(pngs):
                await hostile_chat.send(tg.document(fake, HOSTILE, f"layar-{n}.png", images[n], mime="image/png"))
                await hostile_chat.settle()
            await hostile_chat.finish(files=True)
            number = next(w for t in fake.shown(HOSTILE) for w in t.split() if w.startswith("LN-")).rstrip(".")
            card = await card_message(fake, number)
            await fake.wait_for(lambda: any("disimpan untuk moderator" in t and number in t
                                            for t in fake.texts(GROUP)), 300)
            ask = next(b["callback_data"] for row in card["reply_markup"]["inline_keyboard"] for b in row
                       if b["callback_data"].endswith(":ask"))
            fake.push(tg.group_press(GROUP, ask, card, OFFICER))
            await fake.wait_for(lambda: any("force_reply" in str(c.params.get("reply_markup")) for c in fake.calls
                                            if c.method == "sendMessage" and c.result), 30)
            prompt = next(c.result for c in reversed(fake.calls) if c.method == "sendMessage" and c.result
                          and "force_reply" in str(c.params.get("reply_markup")))
            fake.push(tg.group_text(GROUP, "Ada dokumen lain?", OFFICER, reply_to=prompt))
            await fake.wait_for(lambda: any("bertanya" in t for t in fake.texts(HOSTILE)), 30)
            await hostile_chat.send(tg.document(fake, HOSTILE, "surat.pdf", pdf))
            await fake.wait_for(lambda: sum("disimpan untuk moderator" in t and number in t
                                            for t in fake.texts(GROUP)) >= 2, 300)
            elapsed = time.monotonic() - started
            notices = [t for t in fake.texts(GROUP) if "disimpan untuk moderator" in t and number in t]
            stop_other.set()
            reports = await other_task
        finally:
            stop_sampling.set()
            await sampler
            bot.terminate()
            bot.wait(30)
            log.close()
            await fake.stop()
        cases, unsafe = case_rows(Path(tmp) / "lapor.db")
    latencies = sorted(other.latencies)
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    print(f"hostile files through the service in {elapsed:.1f} s; the other reporter filed {reports} reports")
    print(f"bot process RSS: {baseline.get('bot', 0) / 1024:.0f} MiB before, peak {peaks['bot'] / 1024:.0f} MiB "
          f"(target < 200 MB)")
    print(f"bot and its workers: peak {peaks['all'] / 1024:.0f} MiB (target < 800 MB)")
    print(f"other reporter: {len(latencies)} replies, p50 {statistics.median(latencies) * 1000:.0f} ms, "
          f"p95 {p95 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms (target p95 < 500 ms)")
    hostile_case = next((status for case_number, status in cases if case_number == number), None)
    print(f"the hostile report {number}: {hostile_case}; unsafe files by reason: {dict(unsafe)}")
    for text in notices:
        print("  group:", text.split(" File itu")[0])


async def card_message(fake: FakeTelegram, number: str) -> dict[str, Any]:
    def cards() -> list[Any]:
        return [c for c in fake.calls if c.method == "sendMessage" and c.result
                and str(c.params.get("chat_id")) == str(GROUP) and str(c.params.get("text", "")).startswith("<b>Laporan")
                and number in str(c.params.get("text"))]
    await fake.wait_for(lambda: bool(cards()), 60)
    return dict(cards()[-1].result)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pngs", type=int, default=10)
    parser.add_argument("--pdf-objects", type=int, default=1_150_000)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.pngs, arguments.pdf_objects))
