"""Crash test: the bot runs as a real process (`python -m bot run`) against the local fake
Bot API while N simulated reporters (default 200) file reports; it is killed with SIGKILL
K times (default 5) at random moments and restarted each time. Then it checks and prints:

- every conversation continued where it stood: each reporter finished the script and
  their case holds exactly the answers they gave, in order;
- every submitted case exists exactly once;
- every case reached its focal-point group at least once, with duplicates at most 1%.

Reporters answer only after the bot has asked (a closed loop, as people do); a question
delivered twice after a crash is recognised and answered once.

Usage: python bench/chaos.py [--reporters 200] [--kills 5] [--seed 1]
The test suite runs a shorter form (tests/test_chaos.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flows.staff import route_admin  # noqa: E402
from flows.policy import Policy  # noqa: E402
from storage import Database  # noqa: E402
from tests import fake_telegram as tg  # noqa: E402
from tests.fake_telegram import FakeTelegram  # noqa: E402

GROUP = -1009000000001
BASE_CHAT = 800_000_000
SCRIPT = [
    "/start", "1", "denpasar", "1", "8", "SMPN {n} Denpasar", "Pegawai {n}", "1", "1", "2",
    "19/11/2024", "1", "Ruang guru {n}", "1",
    "Kepala sekolah {n} mengunggah ajakan memilih paslon 2 di grup WhatsApp guru.", "1", "1", "2",
    "1", "1",
]


@dataclass
class Result:
    reporters: int
    kills: int
    seconds: float
    finished: int
    cases: int
    distinct_cases: int
    wrong_answers: int
    cards: int
    distinct_cards: int
    undelivered: int
    duplicate_questions: int
    problems: list[str] = field(default_factory=list)

    @property
    def card_duplicates(self) -> float:
        return (self.cards - self.distinct_cards) / max(self.distinct_cards, 1)

    def ok(self) -> bool:
        return not self.problems

    def report(self) -> str:
        lines = [
            f"{self.reporters} reporters, {self.kills} SIGKILLs, {self.seconds:.1f} s",
            f"conversations finished:       {self.finished}/{self.reporters}",
            f"cases stored:                 {self.cases} ({self.distinct_cases} distinct reporters)",
            f"cases with a wrong answer:    {self.wrong_answers}",
            f"cases reaching the group:     {self.distinct_cards}/{self.cases} ({self.undelivered} never)",
            f"duplicate cards:              {self.cards - self.distinct_cards} ({self.card_duplicates:.2%})",
            f"questions delivered twice:    {self.duplicate_questions}",
        ]
        lines.append("OK" if self.ok() else "FAILED: " + "; ".join(self.problems))
        return "\n".join(lines)


class Driver:
    """Feeds each chat its next line when a new question arrives."""

    def __init__(self, fake: FakeTelegram, reporters: int) -> None:
        self.fake = fake
        self.position = {BASE_CHAT + n: 0 for n in range(reporters)}
        self.last_question: dict[int, str] = {}
        self.duplicates = 0
        self.finished: set[int] = set()
        self.all_done = asyncio.Event()
        original = fake._m_sendMessage

        def on_send(params: dict[str, Any]) -> dict[str, Any]:
            result = original(params)
            chat = int(params["chat_id"])
            if chat in self.position:
                self._seen(chat, str(params.get("text", "")), "reply_markup" in params)
            return result

        fake._m_sendMessage = on_send  # type: ignore[method-assign]

    def _seen(self, chat: int, text: str, question: bool) -> None:
        step = self.position[chat]
        if step >= len(SCRIPT):
            if "LN-" in text and chat not in self.finished:
                self.finished.add(chat)
                if len(self.finished) == len(self.position):
                    self.all_done.set()
            return
        if not question:
            return
        if self.last_question.get(chat) == text:
            self.duplicates += 1  # the same question again (sent twice around a crash)
            return
        self.last_question[chat] = text
        self.send_next(chat)

    def send_next(self, chat: int) -> None:
        step = self.position[chat]
        self.position[chat] = step + 1
        self.fake.push(tg.text(chat, SCRIPT[step].format(n=chat - BASE_CHAT)))

    def start(self) -> None:
        for chat in self.position:
            self.send_next(chat)


def bot_process(fake: FakeTelegram, tmp: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_"))}
    env.update(
        TELEGRAM_BOT_TOKEN=tg.TOKEN, TELEGRAM_BASE_URL=fake.api_url, TELEGRAM_BASE_FILE_URL=fake.file_url,
        DATABASE_PATH=str(tmp / "lapor.db"), EVIDENCE_DIR=str(tmp / "evidence"), TELEGRAM_MAX_RATE="0", TELEGRAM_GROUP_MAX_PER_MINUTE="0",
        MAX_MESSAGES_PER_MINUTE="0", MAX_CASES_PER_DAY="0", DELIVERY_POLL_SECONDS="0.2",
        DELIVERY_LEASE_SECONDS="3", DELIVERY_BACKOFF_SECONDS="0.2", LOG_LEVEL="ERROR", PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=tmp, env=env,
                            stdout=subprocess.DEVNULL, stderr=(tmp / "bot.log").open("ab"))


async def run(reporters: int = 200, kills: int = 5, seed: int = 1, timeout: float = 600.0) -> Result:
    rng = random.Random(seed)
    fake = FakeTelegram()
    await fake.start()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        db = await Database.open(tmp / "lapor.db")
        async with db.transaction() as tx:
            await route_admin.add(tx, Policy(), "51.71", GROUP, by="chaos", at="2024-11-20T00:00:00+00:00")
        await db.close()
        driver = Driver(fake, reporters)
        process = bot_process(fake, tmp)
        started = time.perf_counter()
        driver.start()
        killed = 0
        try:
            while killed < kills and not driver.all_done.is_set():
                await asyncio.sleep(rng.uniform(0.5, 3.0))
                process.send_signal(signal.SIGKILL)
                process.wait()
                killed += 1
                process = bot_process(fake, tmp)
            await asyncio.wait_for(driver.all_done.wait(), timeout)
            await _settle(fake, tmp, reporters, timeout)
        except TimeoutError:
            pass
        finally:
            seconds = time.perf_counter() - started
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        result = _check(fake, tmp, driver, reporters, killed, seconds)
    await fake.stop()
    return result


async def _settle(fake: FakeTelegram, tmp: Path, reporters: int, timeout: float) -> None:
    """Wait until every case has reached the group (delivery runs after the last answer)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(_cards(fake)) >= reporters:
            return
        await asyncio.sleep(0.2)


def _cards(fake: FakeTelegram) -> dict[str, int]:
    found: dict[str, int] = {}
    for call in fake.calls:
        text = str(call.params.get("text", ""))
        if call.method == "sendMessage" and call.result and str(call.params.get("chat_id")) == str(GROUP) \
                and text.startswith("<b>Laporan "):
            number = text.split("</b>")[0].removeprefix("<b>Laporan ")
            found[number] = found.get(number, 0) + 1
    return found


def _check(fake: FakeTelegram, tmp: Path, driver: Driver, reporters: int, kills: int, seconds: float) -> Result:
    with sqlite3.connect(tmp / "lapor.db") as db:
        rows = db.execute("SELECT c.number, r.address, c.agency_name, c.person_name, c.place, c.description"
                          " FROM cases c JOIN reporters r ON r.id = c.reporter_id").fetchall()
        states = dict(db.execute("SELECT address, state FROM conversations").fetchall())
    wrong = 0
    for _number, address, agency, person, place, description in rows:
        n = int(address) - BASE_CHAT
        expected = (f"SMPN {n} Denpasar", f"Pegawai {n}", f"Ruang guru {n}")
        if (agency, person, place) != expected or f"Kepala sekolah {n} " not in description:
            wrong += 1
    cards = _cards(fake)
    numbers = {row[0] for row in rows}
    result = Result(reporters, kills, seconds, len(driver.finished), len(rows), len({row[1] for row in rows}),
                    wrong, sum(cards.values()), len(cards), len(numbers - set(cards)), driver.duplicates)
    if result.finished != reporters or any(states.get(str(c)) != "done" for c in driver.position):
        result.problems.append("not every conversation reached its end")
    if result.cases != reporters or result.distinct_cases != reporters:
        result.problems.append("cases missing or stored twice")
    if wrong:
        result.problems.append("answers landed in the wrong step")
    if result.undelivered:
        result.problems.append("some cases never reached the group")
    if result.card_duplicates > 0.01:
        result.problems.append("more than 1% duplicate cards")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reporters", type=int, default=200)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    result = asyncio.run(run(args.reporters, args.kills, args.seed))
    print(result.report())
    sys.exit(0 if result.ok() else 1)


if __name__ == "__main__":
    main()
