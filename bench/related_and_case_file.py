"""Related reports and case files: what they cost.

1. Seeds N cases (default 200,000) spread over every province, with names drawn from a
   pool of Indonesian and Balinese names (so similar names abound), and times
   `related.link_new_case` for 300 new cases in one busy province: the candidate searches
   are bounded by indexes and a row limit, so the time per submission stays flat as N grows.
2. Generates the case file of a case with ten 2-4 MB photos and prints the time, the peak
   memory of the process (RSS) and the file's size.

Usage: python bench/related_and_case_file.py [--cases 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flows import regions  # noqa: E402
from flows.case import related  # noqa: E402
from storage import Database, cases, reporters  # noqa: E402
from storage.cases import NewCase, NewEvidence  # noqa: E402

FIRST = ["Wayan", "Made", "Nyoman", "Ketut", "Putu", "Gede", "Budi", "Siti", "Agus", "Dewi", "Joko", "Sri",
         "Bambang", "Ahmad", "Muhammad", "Nur", "Eko", "Dwi", "Tri", "Rina"]
LAST = ["Sudarta", "Santoso", "Wijaya", "Arsana", "Suarta", "Hartono", "Lestari", "Susilo", "Yusuf",
        "Fauzi", "Aminah", "Kusuma", "Pratama", "Saputra", "Wahyuni", "Gunawan", "Setiawan", "Hidayat"]
TYPES = ["media_sosial", "ikut_kampanye", "foto_dukungan", "alat_peraga", "fasilitas_negara", "mobilisasi"]


def new_case(n: int, reporter: int, region: regions.Region, rng: random.Random, at: str) -> NewCase:
    day = f"2024-{rng.randint(9, 11):02d}-{rng.randint(1, 28):02d}"
    return NewCase(
        number=f"LN-24-{n:07d}", reporter_id=reporter, channel="bench", locale="id",
        region_code=region.code, province_code=region.province_code, agency_group="pemda", agency_unit="dinas",
        agency_name=f"Dinas {rng.choice(LAST)} {region.name}", person_name=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
        person_position="Kepala", person_status="pns", incident_type=rng.choice(TYPES), occurred_on=day,
        learned_on=day, place="Kantor", latitude=None, longitude=None,
        description="Ajakan memilih paslon 2 disampaikan di rapat dinas. " * 2, witnesses=None,
        identity_mode="anonim", reporter_name=None, reporter_phone=None, consent_at=at, created_at=at)


async def seed(db: Database, total: int, rng: random.Random) -> None:
    places = [r for r in regions.all_regions() if not r.is_province]
    at = "2024-11-21T10:00:00+07:00"
    async with db.transaction() as tx:
        reporter = await reporters.upsert(tx, "bench", "r", "id", at)
    done = 0
    while done < total:
        async with db.transaction() as tx:
            for n in range(done, min(total, done + 5000)):
                await cases.insert(tx, new_case(n, reporter, rng.choice(places), rng, at),
                                   [NewEvidence("photo", f"f{n}", None, "image/jpeg", 1000, f"{n:064x}", None)])
        done = min(total, done + 5000)


async def matching(path: Path, total: int) -> None:
    rng = random.Random(16)
    db = await Database.open(path, checkpoint_every=None)
    started = time.perf_counter()
    await seed(db, total, rng)
    seeded = time.perf_counter() - started
    denpasar = regions.get("51.71")
    assert denpasar is not None
    async with db.transaction() as tx:
        reporter = await reporters.upsert(tx, "bench", "new", "id", "2024-11-21T10:00:00+07:00")
    times, searches, links = [], [], 0
    for n in range(300):
        async with db.transaction() as tx:
            case_id = await cases.insert(tx, new_case(total + n, reporter, denpasar, rng, "2024-11-22T10:00:00+07:00"),
                                         [NewEvidence("photo", "x", None, "image/jpeg", 1000, f"{n:064x}", None)])
            case = await cases.get(tx, case_id)
            assert case is not None
            began = time.perf_counter()
            related.match(case, *await related.candidates(tx, case))
            searches.append(time.perf_counter() - began)
            began = time.perf_counter()
            links += len(await related.link_new_case(tx, case, case.created_at))
            times.append(time.perf_counter() - began)
    await db.close()
    times.sort()
    searches.sort()
    print(f"{total:>9,} cases (seeded in {seeded:.0f} s), 300 submissions in Kota Denpasar:\n"
          f"  candidate search + matching: median {statistics.median(searches) * 1000:.2f} ms, "
          f"p95 {searches[int(len(searches) * 0.95)] * 1000:.2f} ms\n"
          f"  link_new_case (search, links, events, card refreshes): median {statistics.median(times) * 1000:.2f} ms, "
          f"p95 {times[int(len(times) * 0.95)] * 1000:.2f} ms, max {times[-1] * 1000:.2f} ms; "
          f"{links / 300:.1f} links per case")


async def case_file(tmp: Path) -> None:
    import io

    from PIL import Image

    from bot.case_file import CaseFiles
    from flows.case.case_file import Order
    from flows.staff.visibility import Viewer
    from storage.evidence_files import EvidenceStore

    db = await Database.open(tmp / "file.db", checkpoint_every=None)
    store = EvidenceStore(tmp / "evidence")
    rng = random.Random(3)
    evidence = []
    for n in range(10):
        image = Image.frombytes("RGB", (2400, 1800), rng.randbytes(2400 * 1800 * 3))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=85)
        stored = await store.put(out.getvalue())
        evidence.append(NewEvidence("photo", f"p{n}", None, "image/jpeg", stored.size, stored.sha256, None))
    region = regions.get("51.71")
    assert region is not None
    async with db.transaction() as tx:
        reporter = await reporters.upsert(tx, "bench", "r", "id", "2024-11-21T10:00:00+07:00")
        case_id = await cases.insert(tx, new_case(1, reporter, region, rng, "2024-11-21T10:00:00+07:00"), evidence)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    made = await CaseFiles(db, store).make(Order(case_id, Viewer.shell(False), "shell"))
    seconds = time.perf_counter() - started
    assert made is not None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    await db.close()
    sizes = sorted(e.size or 0 for e in evidence)
    print(f"case file with 10 photos of {sizes[0] / 1e6:.1f}-{sizes[-1] / 1e6:.1f} MB: {seconds:.2f} s, "
          f"PDF {len(made.data) / 1e3:.0f} kB, peak RSS {peak / 1024:.0f} MiB (was {before / 1024:.0f} MiB before)")


def main(total: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for size in (total // 10, total):
            asyncio.run(matching(Path(tmp) / f"related-{size}.db", size))
        asyncio.run(case_file(Path(tmp)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=200_000)
    main(parser.parse_args().cases)
