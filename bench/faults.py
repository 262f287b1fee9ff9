"""Fault injection: for `--seconds` (default 60) the fake Bot API and the fake Twilio API
fail `--rate` (default 30%) of their calls: 500s, 429s with retry_after, answers slower
than the client waits, and dropped connections (getUpdates included). Reporters keep
filing reports throughout. Afterwards it checks that every reply and every delivery has
gone out, and prints the figures.

Usage: python bench/faults.py [--reporters 60] [--seconds 60] [--rate 0.3]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.chaos import GROUP, SCRIPT, Driver  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.serve import serve  # noqa: E402
from flows.policy import Policy  # noqa: E402
from flows.staff import route_admin  # noqa: E402
from storage import Database  # noqa: E402
from tests import fake_twilio as tw  # noqa: E402
from tests.backends import Backend  # noqa: E402
from tests.fake_telegram import FakeTelegram  # noqa: E402
from tests.fake_twilio import FakeTwilio, WhatsAppUser  # noqa: E402
from tests.telegram_harness import polling_bot, settings_for  # noqa: E402

WHATSAPP_STEPS = ["halo", "1", "denpasar", "1", "8", "SMPN 1 Denpasar"]


async def drained(database: Path) -> None:
    """Until nothing is left in the outbox that has not been sent."""
    while True:
        with sqlite3.connect(database) as check:
            if not check.execute("SELECT count(*) FROM outbox WHERE status != 'sent'").fetchone()[0]:
                return
        await asyncio.sleep(0.2)


async def telegram_phase(reporters: int, seconds: float, rate: float, tmp: Path) -> str:
    fake = FakeTelegram(fail_rate=rate, fail_modes=("500", "429", "timeout", "drop", "getUpdates"), slow_seconds=3)
    await fake.start()
    settings = settings_for(fake, Backend("sqlite", tmp), telegram_timeout=2.0, delivery_poll_seconds=0.2,
                            delivery_backoff_seconds=0.5, telegram_max_rate=0, max_messages_per_minute=0,
                            max_cases_per_day=0)
    db = await Database.open(settings.database_path)
    async with db.transaction() as tx:
        await route_admin.add(tx, Policy(), "51.71", GROUP, by="bench", at="2024-11-20T00:00:00+00:00")
    await db.close()
    driver = Driver(fake, reporters)
    started = time.perf_counter()
    async with polling_bot(settings) as runtime:
        driver.start()
        await asyncio.sleep(seconds)
        fake.fail_rate = 0.0
        healed = time.perf_counter()
        await asyncio.wait_for(driver.all_done.wait(), 600)
        await drained(settings.database_path)  # every case card and every message
        done = time.perf_counter()
        assert runtime.worker is not None
        retries = dict(runtime.worker.failures)
    with sqlite3.connect(settings.database_path) as check:
        cases = check.execute("SELECT count(*) FROM cases").fetchone()[0]
        sent = check.execute("SELECT count(*) FROM outbox WHERE status = 'sent'").fetchone()[0]
    cards = len({str(c.params["text"]).split("</b>")[0] for c in fake.calls if c.method == "sendMessage" and c.result
                 and str(c.params.get("chat_id")) == str(GROUP) and str(c.params.get("text", "")).startswith("<b>")})
    await fake.stop()
    ok = len(driver.finished) == reporters and cases == reporters and cards == reporters
    return (f"telegram: {reporters} reporters x {len(SCRIPT)} steps; injected {fake.injected}\n"
            f"  all finished {len(driver.finished)}/{reporters}, cases {cases}, cards in the group {cards}, "
            f"outbox sent {sent}, 0 pending\n"
            f"  drained {done - healed:.1f} s after the faults stopped ({done - started:.1f} s in all); "
            f"retries {retries}\n  {'OK' if ok else 'FAILED'}")


async def whatsapp_phase(users: int, seconds: float, rate: float, tmp: Path, port: int) -> str:
    twilio = FakeTwilio(fail_rate=rate, slow_seconds=4)
    await twilio.start()
    settings = Settings(database_path=tmp / "lapor.db", evidence_dir=tmp / "evidence",
                        public_base_url="https://lapor.example.org", host="127.0.0.1",
                            port=port, twilio_account_sid=tw.ACCOUNT_SID,
                            twilio_auth_token=tw.AUTH_TOKEN, twilio_whatsapp_from=tw.BOT_NUMBER,
                            twilio_api_base_url=twilio.base, twilio_timeout=2.0, delivery_poll_seconds=0.2,
                            delivery_backoff_seconds=0.5, max_messages_per_minute=0)
    stop = asyncio.Event()
    server = asyncio.create_task(serve(settings, stop))
    await asyncio.sleep(1.0)
    url = f"http://127.0.0.1:{port}/twilio/whatsapp"
    people = [WhatsAppUser(twilio, url, "https://lapor.example.org/twilio/whatsapp", f"+62812{n:07d}")
              for n in range(users)]
    started = time.perf_counter()

    async def converse(person: WhatsAppUser) -> None:
        for line in WHATSAPP_STEPS:
            await person.send(person.form(line), timeout=600)

    talks = asyncio.gather(*(converse(p) for p in people))
    await asyncio.sleep(seconds)
    twilio.fail_rate = 0.0
    healed = time.perf_counter()
    await talks
    await drained(settings.database_path)
    done = time.perf_counter()
    stop.set()
    await server
    answers = [len(twilio.to(p.number)) for p in people]
    await twilio.stop()
    ok = all(n >= len(WHATSAPP_STEPS) for n in answers)
    return (f"whatsapp: {users} people x {len(WHATSAPP_STEPS)} messages; injected {twilio.injected}; "
            f"{twilio.attempts} REST calls for {len(twilio.messages)} messages\n"
            f"  every message answered: {sum(n >= len(WHATSAPP_STEPS) for n in answers)}/{users}, 0 pending\n"
            f"  drained {done - healed:.1f} s after the faults stopped ({done - started:.1f} s in all)\n"
            f"  {'OK' if ok else 'FAILED'}")


async def main(reporters: int, seconds: float, rate: float) -> None:
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
        print(f"faults: {rate:.0%} of calls for {seconds:.0f} s")
        print(await telegram_phase(reporters, seconds, rate, Path(one)))
        print(await whatsapp_phase(max(reporters // 3, 1), seconds, rate, Path(two), 18_765))


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.CRITICAL)
    parser = argparse.ArgumentParser()
    parser.add_argument("--reporters", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=0.3)
    args = parser.parse_args()
    asyncio.run(main(args.reporters, args.seconds, args.rate))
