"""Flow throughput: N simulated reporters file complete reports concurrently against the
SQLite storage, through the real engine (every step a durable transaction).

Two figures, because they answer different questions:
- saturated: every reporter sends its next message the moment it gets an answer, so the
  run measures the most steps per second the engine sustains; latency there is mostly
  time spent queueing behind the other 999 reporters.
- paced: the same reporters think between messages (exponentially distributed, as
  independent people do), together offering `--rate` steps per second; latency then
  shows what one reporter waits for one step at that load. (The steps/s printed for a
  paced run is the average over the whole run, which the slowest reporters stretch.)

Usage: python bench/flow_throughput.py [--reporters 1000] [--rate 800] [--db PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import resource
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flows.case import related  # noqa: E402
from flows.engine import Engine  # noqa: E402
from flows.events import (  # noqa: E402
    Event,
    Inbound,  # noqa: E402
    Media,
)
from storage import Database, cases  # noqa: E402
from tests.chat import HAPPY_PATH, media, parse  # noqa: E402

SCRIPT = [*HAPPY_PATH, "@send"]
AT = datetime(2024, 11, 21, 10, 0, tzinfo=timezone(timedelta(hours=7)))


def own_files(line: str, name: str) -> str:
    """Each reporter's own photos and document (distinct SHA-256s), as real reporters have:
    with the same files for everyone, every submit would be flagged as a duplicate."""
    if line.startswith("#album"):
        return line  # expanded per reporter below
    if line.startswith("#doc "):
        return f"#doc {name}-{line[5:]}"
    return line


def event_for(line: str, name: str) -> Event:
    event = parse(own_files(line, name))
    if isinstance(event, Media) and line.startswith("#album"):
        event = Media(tuple(media("photo", f"{name}-album-{i}") for i in range(len(event.items))))
    return event


async def reporter(engine: Engine, name: str, latencies: list[float], think: float,
                   rng: random.Random) -> None:
    """One person: types a message, waits for the answer, thinks a while (exponentially
    distributed, so that together the reporters arrive as a Poisson stream), repeats."""
    for number, line in enumerate(SCRIPT):
        if think:
            await asyncio.sleep(rng.expovariate(1 / think))
        started = time.perf_counter()
        await engine.handle(Inbound("bench", name, f"{name}-{number}", event_for(line, name),
                                    AT + timedelta(seconds=number), "id"))
        latencies.append(time.perf_counter() - started)


async def link_related(db: Database) -> None:
    """What the delivery worker does beside the steps: link new cases to related ones."""
    while True:
        await related.link_waiting(db, AT.isoformat())
        await asyncio.sleep(0.05)


async def run(path: Path, reporters: int, rate: float, label: str) -> dict[str, float]:
    db = await Database.open(path)
    engine = Engine(db)
    latencies: list[float] = []
    think = reporters / rate if rate else 0.0
    rng = random.Random(7)
    started = time.perf_counter()
    linker = asyncio.create_task(link_related(db))
    await asyncio.gather(*(reporter(engine, f"{label}-{n}", latencies, think, rng) for n in range(reporters)))
    elapsed = time.perf_counter() - started
    linker.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await linker
    await related.link_waiting(db, AT.isoformat(), limit=10**9)
    async with db.reading() as tx:
        stored = await cases.count(tx)
        flagged = (await tx.execute_fetchall("SELECT count(*) FROM case_events WHERE kind = 'possible_duplicate'"))
    if next(iter(flagged))[0]:
        raise SystemExit("reporters' files should be their own: some cases were flagged as duplicates")
    await db.close()
    latencies.sort()
    return {
        "steps": len(latencies), "cases": stored, "seconds": elapsed,
        "steps_per_s": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def show(name: str, figures: dict[str, float]) -> None:
    print(f"{name:<16} {figures['steps']:>7.0f} steps {figures['cases']:>6.0f} cases "
          f"{figures['seconds']:>6.1f} s {figures['steps_per_s']:>8.0f} steps/s "
          f"p50 {figures['p50_ms']:>7.2f} ms  p99 {figures['p99_ms']:>7.2f} ms")


def main() -> None:
    logging.getLogger("flows").setLevel(logging.ERROR)  # "no focal point" warnings for every case
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reporters", type=int, default=1000)
    parser.add_argument("--rate", type=float, action="append",
                        help="total steps/s offered in a paced run (repeatable; default 250, 500, 1000)")
    parser.add_argument("--db", type=Path, default=None, help="folder for the database files (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.db or Path(tmp)
        print(f"{args.reporters} reporters x {len(SCRIPT)} steps, a fresh SQLite file per run in {folder}")
        show("saturated", asyncio.run(run(folder / "saturated.db", args.reporters, 0.0, "sat")))
        for rate in args.rate or [100.0, 250.0, 500.0, 1000.0]:
            show(f"offered {rate:.0f}/s", asyncio.run(run(folder / f"paced{rate:.0f}.db", args.reporters, rate, "p")))
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak RSS {peak_kib / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
