"""Readiness probe cost: a load balancer calls `/readyz` every few seconds on every worker,
so its queries must stay cheap however large the outbox grows. Seeds an outbox of N rows
(default 200,000: 90% sent, the rest pending, a third of those held for WhatsApp's window)
into a fresh SQLite file, then times `bot.health.readiness` and `liveness` (median and worst
of 200 calls each).

Usage: python bench/readiness.py [--rows 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.health import liveness, readiness  # noqa: E402
from storage import Database  # noqa: E402
from storage.outbox import OUTBOX  # noqa: E402


async def seed(db: Database, rows: int) -> None:
    now = datetime.now(UTC)
    batch: list[tuple[object, ...]] = []
    for n in range(rows):
        at = (now - timedelta(seconds=rows - n)).isoformat()
        pending = n % 10 == 0
        held = "window" if pending and n % 30 == 0 else None
        batch.append(("whatsapp" if held else "telegram", f"{n % 5000}", "send", "{}", "pending" if pending else "sent",
                      at, at, held))
        if len(batch) == 10_000 or n == rows - 1:
            async with db.transaction() as tx:  # stored as the service stores them: hashed, sealed
                await tx.executemany(
                    "INSERT INTO outbox (channel, address, address_sealed, kind, payload, status, next_attempt_at,"
                    " created_at, held_for) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(channel, OUTBOX.lookup(tx, address), OUTBOX.seal(tx, "address_sealed", address), kind,
                      OUTBOX.seal(tx, "payload", payload), *rest) for channel, address, kind, payload, *rest in batch])
            batch = []


async def timed(call: object, times: int = 200) -> tuple[float, float]:
    spent = []
    for _ in range(times):
        started = time.perf_counter()
        await call()  # type: ignore[operator]
        spent.append((time.perf_counter() - started) * 1000)
    return statistics.median(spent), max(spent)


async def main(rows: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = await Database.open(Path(tmp) / "lapor.db")
        try:
            await seed(db, rows)
            ready = await readiness(db, 900)
            print(f"outbox {rows:,} rows: pending {ready.body['outbox_pending']:,}, held {ready.body['held']}")
            for name, probe in (("readiness", lambda: readiness(db, 900)), ("liveness", lambda: liveness(db))):
                median, worst = await timed(probe)
                print(f"{name:<10} median {median:.2f} ms, worst {worst:.2f} ms")
        finally:
            await db.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    asyncio.run(main(parser.parse_args().rows))
