"""Delivery throughput: N submitted cases (default 300, each with a 3-photo album and a
document, in 10 regions with a focal-point group each) are sent from the outbox by the
delivery worker through the real PTB `Bot` to the local fake Bot API, which fails a
share of calls (`--fail`, default 0.1: 500s and 429s with retry_after 1). Prints the
time to drain, deliveries/s, Bot API calls/s, retries, and checks that every group got
each of its cards exactly once.

Usage: python bench/delivery_throughput.py [--cases 300] [--fail 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from telegram import Bot  # noqa: E402

from bot.delivery import DeliveryWorker  # noqa: E402
from bot.telegram.sender import TelegramSender  # noqa: E402
from flows.engine import Engine  # noqa: E402
from flows.policy import Policy  # noqa: E402
from flows.staff import route_admin  # noqa: E402
from storage import Database, outbox  # noqa: E402
from storage.evidence_files import EvidenceStore  # noqa: E402
from tests import fake_telegram as tg  # noqa: E402
from tests.chat import HAPPY_PATH, Chat  # noqa: E402
from tests.fake_telegram import FakeTelegram  # noqa: E402

REGIONS = ["kota denpasar", "kab badung", "kab tabanan", "kab gianyar", "kab buleleng", "kota surabaya",
           "kota bandung", "kota semarang", "kota malang", "kota bogor"]


async def seed(db: Database, cases: int, policy: Policy) -> None:
    async with db.transaction() as tx:
        for n, code in enumerate(REGIONS):
            await route_admin.add(tx, policy, code, -1000 - n, by="bench", at="2024-11-21T00:00:00+00:00")
    engine = Engine(db, policy=policy)
    for n in range(cases):
        path = list(HAPPY_PATH)
        path[2] = REGIONS[n % len(REGIONS)]
        chat = Chat(engine, address=f"reporter-{n}")
        await chat.run(*path, "@send")


async def main(cases: int, fail: float) -> None:
    fake = FakeTelegram()
    await fake.start()
    fake.fail_rate = fail
    with tempfile.TemporaryDirectory() as tmp:
        policy = Policy()
        db = await Database.open(Path(tmp) / "bench.db")
        await seed(db, cases, policy)
        bot = Bot(tg.TOKEN, base_url=fake.api_url, base_file_url=fake.file_url)
        async with bot:
            sender = TelegramSender(bot, db, EvidenceStore(Path(tmp) / "evidence"), "id")
            worker = DeliveryWorker(db, policy, {"telegram": sender}, base_backoff=0.2, batch=64)
            calls_before = len(fake.calls)
            started = time.perf_counter()
            worker.start()  # its own loop: up to 64 deliveries in flight, the next leased as one ends
            while True:
                async with db.reading() as tx:  # pending for Telegram, due now or after a backoff
                    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
                    if not await outbox.has_due(tx, later, ["telegram"]):
                        break
                await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - started
        await worker.stop()
        await db.close()
    calls = len(fake.calls) - calls_before
    cards: dict[str, int] = {}
    for call in fake.calls:
        if call.method == "sendMessage" and call.result and str(call.params.get("text", "")).startswith("<b>Laporan"):
            key = str(call.params["chat_id"]) + str(call.params["text"]).split("</b>")[0]
            cards[key] = cards.get(key, 0) + 1
    await fake.stop()
    print(f"cases: {cases}, deliveries sent: {worker.sent}, failures injected: {fail:.0%}")
    print(f"drained in {elapsed:.2f} s: {worker.sent / elapsed:.0f} deliveries/s, {calls / elapsed:.0f} Bot API calls/s")
    print(f"retries: {worker.failures}")
    print(f"cards: {len(cards)} distinct, duplicates: {sum(c - 1 for c in cards.values())}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)  # retries are counted, not logged one by one
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--fail", type=float, default=0.1)
    args = parser.parse_args()
    asyncio.run(main(args.cases, args.fail))
