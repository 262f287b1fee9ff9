"""Export memory: seeds N cases (default 200,000) into a fresh SQLite file, then runs the
streamed CSV + XLSX export in a child process and prints its peak RSS, for N and N/10
cases: flat memory means the two peaks are close.

Usage: python bench/export_memory.py [--cases 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage import Database, cases, reporters  # noqa: E402
from storage.cases import NewCase, NewEvidence  # noqa: E402

CHILD = """
import asyncio, resource, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from bot.export import write_files
from storage import Database
from storage.case_queries import CaseFilter
async def main():
    db = await Database.open(sys.argv[1], checkpoint_every=None)
    started = time.perf_counter()
    count = await write_files(db, CaseFilter(), True, Path(sys.argv[2]) / "out.csv", Path(sys.argv[2]) / "out.xlsx")
    await db.close()
    print(count, time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
asyncio.run(main())
"""


async def seed(path: Path, total: int) -> None:
    db = await Database.open(path, checkpoint_every=None)
    at = "2024-11-21T10:00:00+07:00"
    async with db.transaction() as tx:
        reporter = await reporters.upsert(tx, "bench", "r", "id", at)
    done = 0
    while done < total:
        async with db.transaction() as tx:
            for n in range(done, min(total, done + 5000)):
                await cases.insert(tx, NewCase(
                    number=f"LN-24-{n:07d}", reporter_id=reporter, channel="bench", locale="id",
                    region_code="51.71", province_code="51", agency_group="pemda", agency_unit="sekolah",
                    agency_name="SMPN 1 Denpasar", person_name="Budi", person_position="Kepala",
                    person_status="pns", incident_type="media_sosial", occurred_on="2024-11-19",
                    learned_on="2024-11-20", place="Ruang guru", latitude=-8.65, longitude=115.21,
                    description="Kepala sekolah mengunggah ajakan memilih paslon 2 di grup guru. " * 3,
                    witnesses=None, identity_mode="rahasia", reporter_name="Siti", reporter_phone="+62812",
                    consent_at=at, created_at=at),
                    [NewEvidence("photo", f"f{n}", None, "image/jpeg", 1000, f"{n:064x}", None)])
        done = min(total, done + 5000)
    await db.close()


def export(path: Path, out: Path) -> tuple[int, float, int]:
    root = str(Path(__file__).resolve().parent.parent)
    result = subprocess.run([sys.executable, "-c", CHILD, str(path), str(out), root], capture_output=True,
                            text=True, check=True)
    count, seconds, rss_kib = result.stdout.split()
    return int(count), float(seconds), int(rss_kib)


def main(total: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for size in (total // 10, total):
            path = Path(tmp) / f"bench-{size}.db"
            started = time.perf_counter()
            asyncio.run(seed(path, size))
            seeded = time.perf_counter() - started
            count, seconds, rss_kib = export(path, Path(tmp))
            xlsx = (Path(tmp) / "out.xlsx").stat().st_size / 1e6
            print(f"{count:>9,} cases: seeded in {seeded:.0f} s, exported in {seconds:.1f} s "
                  f"({count / seconds:,.0f} cases/s), xlsx {xlsx:.0f} MB, peak RSS {rss_kib / 1024:.0f} MiB")



if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=200_000)
    main(parser.parse_args().cases)
