"""Engine throughput and latency with several workers on PostgreSQL, beside SQLite with one,
in one run, printed as one table.

Each worker is its own process (its own engine, connections and group commit), as a
`serve` worker is; the reporters are shared out among them and every step is a durable
transaction on the one database. Two loads per setup:
- saturated: every reporter sends its next message as soon as it has the answer (the most
  steps per second the setup sustains; latency there is queueing);
- paced: fewer reporters who think between messages (Poisson arrivals) offering `--rate`
  steps per second in all: what one reporter waits for one step at a normal load.

Every reporter sends files of its own (no two cases share a photo), so the duplicate-photo
check stays as cheap as in real use. PostgreSQL is a throwaway server started from the
installed binaries (`tests/postgres_server.py`), a fresh database per setup.

Usage: python bench/engine_scaling.py [--reporters 1000] [--paced-reporters 200] [--rate 250]
                                      [--workers 1,2,4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flows.engine import Engine  # noqa: E402
from flows.events import Event, Inbound, Media  # noqa: E402
from storage import Database  # noqa: E402
from storage.database import is_postgres_url  # noqa: E402
from storage.sealing import KeySource, new_data_key  # noqa: E402
from tests.chat import HAPPY_PATH, media, parse  # noqa: E402

SCRIPT = [*HAPPY_PATH, "@send"]
AT = datetime(2024, 11, 21, 10, 0, tzinfo=timezone(timedelta(hours=7)))


def event_for(name: str, line: str) -> Event:
    """The script's line, with files of this reporter's own."""
    if line.startswith("#album "):
        return Media(tuple(media("photo", f"{name}-album-{i}") for i in range(int(line.split()[1]))))
    if line.startswith("#doc "):
        return Media((media("document", f"{name}-{line.split()[1]}"),))
    return parse(line)


async def reporter(engine: Engine, name: str, latencies: list[float], think: float, rng: random.Random) -> None:
    for number, line in enumerate(SCRIPT):
        if think:
            await asyncio.sleep(rng.expovariate(1 / think))
        started = time.perf_counter()
        await engine.handle(Inbound("bench", name, f"{name}-{number}", event_for(name, line),
                                    AT + timedelta(seconds=number), "id"))
        latencies.append(time.perf_counter() - started)


def data_key(target: str) -> KeySource | None:
    """The data key: for PostgreSQL one key for every worker process (made once, handed down
    in the environment); for the SQLite file, its key file."""
    if not is_postgres_url(target):
        return None
    return KeySource(os.environ.setdefault("LAPOR_BENCH_DATA_KEY", new_data_key()), Path("unused"))


async def worker(target: str, reporters: int, rate: float, label: str, start_at: float) -> dict[str, object]:
    """One worker process's share: `reporters` reporters offering `rate` steps/s."""
    logging.disable(logging.WARNING)  # "no moderator configured" for every case: not what is measured
    db = await Database.open(target, key=data_key(target))
    engine = Engine(db)
    engine.flood.per_minute = 0
    if engine.shared_flood is not None:
        engine.shared_flood = None  # the abuse limit is not what is measured
    await asyncio.sleep(max(0.0, start_at - time.time()))  # every worker starts together
    latencies: list[float] = []
    think = reporters / rate if rate else 0.0
    rng = random.Random(label)
    began = time.time()
    await asyncio.gather(*(reporter(engine, f"{label}-{n}", latencies, think, rng) for n in range(reporters)))
    ended = time.time()
    await db.close()
    return {"latencies": latencies, "began": began, "ended": ended}


def run_setup(target: str, workers: int, reporters: int, rate: float, label: str) -> dict[str, float]:
    start_at = time.time() + 3.0 + workers  # time for every process to import and connect
    share = [reporters // workers + (1 if i < reporters % workers else 0) for i in range(workers)]
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", target, str(share[i]), str(rate / workers),
                               f"{label}-w{i}", str(start_at)], stdout=subprocess.PIPE, cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
             for i in range(workers)]
    results = [json.loads(p.communicate()[0]) for p in procs]
    if any(p.returncode for p in procs):
        raise SystemExit(f"a worker failed in {label}")
    latencies = sorted(x for r in results for x in r["latencies"])
    seconds = max(r["ended"] for r in results) - min(r["began"] for r in results)
    return {"steps": len(latencies), "seconds": seconds, "steps_per_s": len(latencies) / seconds,
            "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reporters", type=int, default=1000, help="saturated run")
    parser.add_argument("--paced-reporters", type=int, default=200)
    parser.add_argument("--rate", type=float, default=250.0, help="steps/s offered in all in the paced run")
    parser.add_argument("--workers", default="1,2,4", help="PostgreSQL setups, comma-separated")
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        target, reporters, rate, label, start_at = args.worker
        print(json.dumps(asyncio.run(worker(target, int(reporters), float(rate), label, float(start_at)))))
        return

    import psycopg

    from tests.backends import _psycopg_dsn
    from tests.postgres_server import running_server

    rows: list[tuple[str, dict[str, float], dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp, running_server() as server:
        def fresh(name: str) -> str:
            with psycopg.connect(_psycopg_dsn(server.url()), autocommit=True) as admin:
                admin.execute(f"CREATE DATABASE {name}")
            url = server.url(name)
            asyncio.run(_migrate(url))
            return url

        setups: list[tuple[str, int, str, str]] = [("SQLite, 1 worker", 1, str(Path(tmp) / "sat.db"),
                                                     str(Path(tmp) / "paced.db"))]
        for n in (int(w) for w in args.workers.split(",")):
            setups.append((f"PostgreSQL, {n} worker{'s' if n > 1 else ''}", n, fresh(f"sat{n}"), fresh(f"paced{n}")))
        print(f"{args.reporters} reporters x {len(SCRIPT)} steps saturated; {args.paced_reporters} reporters "
              f"offering {args.rate:.0f} steps/s paced; {os.cpu_count()} CPUs shared by the workers and the server")
        for name, workers, saturated_target, paced_target in setups:
            saturated = run_setup(saturated_target, workers, args.reporters, 0.0, "s")
            paced = run_setup(paced_target, workers, args.paced_reporters, args.rate, "p")
            rows.append((name, saturated, paced))
            print(f"  {name}: {saturated['steps_per_s']:.0f} steps/s saturated, "
                  f"p99 {paced['p99_ms']:.1f} ms at {args.rate:.0f}/s", flush=True)
    print()
    print(f"| setup | steps/s saturated | p50 / p99 saturated | p50 / p99 at {args.rate:.0f} steps/s offered |")
    print("| --- | --- | --- | --- |")
    for name, saturated, paced in rows:
        print(f"| {name} | {saturated['steps_per_s']:,.0f} | {saturated['p50_ms']:.0f} / {saturated['p99_ms']:.0f} ms"
              f" | {paced['p50_ms']:.1f} / {paced['p99_ms']:.1f} ms |")


async def _migrate(url: str) -> None:
    db = await Database.open(url, key=data_key(url))
    await db.close()


if __name__ == "__main__":
    main()
