"""Telegram throughput: N reporters (default 500) file complete reports at once through
the full PTB stack (polling, our handler, the engine on SQLite, replies over HTTP) against
the local fake Bot API; then, in the same run and through the same fake, a null bot whose
only handler replies "ok". Prints updates/s for both and their ratio.

Each reporter answers only after the bot has answered (a closed loop, as people do),
typing option numbers so that no message ids are needed. Both bots run with the same
rate-limiter setting (`--max-rate`, default 0 = no overall cap), so the comparison is of
the work per update, not of Telegram's 30 messages/s allowance.

Usage: python bench/telegram_throughput.py [--reporters 500] [--max-rate 0]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from telegram import Update  # noqa: E402
from telegram.ext import AIORateLimiter, Application, ContextTypes, TypeHandler  # noqa: E402

from tests import fake_telegram as tg  # noqa: E402
from tests.fake_telegram import FakeTelegram  # noqa: E402
from tests.telegram_harness import polling_bot, settings_for  # noqa: E402

SCRIPT = [
    "/start", "1", "denpasar", "1", "8", "SMPN 1 Denpasar", "Budi Santoso", "1", "1", "2",
    "19/11/2024", "1", "Ruang guru", "1",
    "Kepala sekolah mengunggah ajakan memilih paslon 2 di grup WhatsApp guru.", "1", "1", "2",
    "1", "1",
]


class Driver:
    """Feeds each chat its next line when the bot has finished answering the last one:
    for our bot, when a message with a keyboard (a question) arrives; for the null bot,
    on every message."""

    def __init__(self, fake: FakeTelegram, reporters: int, question_only: bool) -> None:
        self.fake = fake
        self.position = {chat: 0 for chat in range(1, reporters + 1)}
        self.question_only = question_only
        self.finished = asyncio.Event()
        self.remaining = reporters
        original = fake._m_sendMessage

        def on_send(params: dict[str, Any]) -> dict[str, Any]:
            result = original(params)
            if not self.question_only or "reply_markup" in params:
                self.next(int(params["chat_id"]))
            elif self.position.get(int(params["chat_id"])) == len(SCRIPT):
                self.done(int(params["chat_id"]))
            return result

        fake._m_sendMessage = on_send  # type: ignore[method-assign]

    def next(self, chat: int) -> None:
        step = self.position[chat]
        if step == len(SCRIPT):
            self.done(chat)
            return
        self.position[chat] = step + 1
        self.fake.push(tg.text(chat, SCRIPT[step]))

    def done(self, chat: int) -> None:
        if self.position[chat] >= 0:
            self.position[chat] = -1
            self.remaining -= 1
            if self.remaining == 0:
                self.finished.set()

    async def run(self) -> float:
        started = time.perf_counter()
        for chat in self.position:
            self.next(chat)
        await self.finished.wait()
        return time.perf_counter() - started


async def ours(reporters: int, max_rate: float, tmp: Path) -> float:
    fake = FakeTelegram()
    await fake.start()
    driver = Driver(fake, reporters, question_only=True)
    settings = settings_for(fake, tmp, telegram_max_rate=max_rate)
    async with polling_bot(settings):
        elapsed = await driver.run()
    await fake.stop()
    with sqlite3.connect(settings.database_path) as db:
        stored = db.execute("SELECT count(*) FROM cases").fetchone()[0]
    if stored != reporters:
        raise SystemExit(f"only {stored} of {reporters} reports were stored")
    return reporters * len(SCRIPT) / elapsed


async def null_bot(reporters: int, max_rate: float) -> float:
    fake = FakeTelegram()
    await fake.start()
    driver = Driver(fake, reporters, question_only=False)

    async def reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_chat:
            await context.bot.send_message(update.effective_chat.id, "ok")

    app = (Application.builder().token(tg.TOKEN).base_url(fake.api_url).base_file_url(fake.file_url)
           .rate_limiter(AIORateLimiter(overall_max_rate=max_rate, max_retries=3))
           .concurrent_updates(True).build())
    app.add_handler(TypeHandler(Update, reply))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0.0, timeout=1)
        elapsed = await driver.run()
        await app.updater.stop()
        await app.stop()
    await fake.stop()
    return reporters * len(SCRIPT) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reporters", type=int, default=500)
    parser.add_argument("--max-rate", type=float, default=0.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{args.reporters} reporters x {len(SCRIPT)} updates, fake Bot API on localhost")
        ours_rate = asyncio.run(ours(args.reporters, args.max_rate, Path(tmp)))
        print(f"lapor netral  {ours_rate:8.0f} updates/s ({args.reporters} cases stored)")
        null_rate = asyncio.run(null_bot(args.reporters, args.max_rate))
        print(f"null bot      {null_rate:8.0f} updates/s")
        print(f"ratio         {ours_rate / null_rate:8.2f} (target >= 0.5)")


if __name__ == "__main__":
    main()
