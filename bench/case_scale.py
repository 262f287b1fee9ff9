"""Million-case queries: builds a database of N cases (default 1,000,000) in a temp folder
outside the repository, with a fast bulk insert (plain sqlite3, indexes and triggers set
aside meanwhile and rebuilt after), then times every staff and background query through
the real code (StaffCommands, the engine's /status, the deadline and retention jobs) and
prints one table, each query's median and worst of `--repeat` runs (after one warm-up).

The data: cases over the last two years before today (UTC), spread over the 514
kabupaten/kota like population (the busiest has about 2%), each with its own focal-point
group; statuses and types in realistic shares; cases older than a day or three already
reminded or escalated, as the per-minute job would have left them (all but 1 in 2,000).

Usage: python bench/case_scale.py [--cases 1000000] [--repeat 5] [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flows import menus, regions  # noqa: E402
from flows.case import case_number, deadlines  # noqa: E402
from flows.engine import Engine  # noqa: E402
from flows.events import Command, Inbound  # noqa: E402
from flows.policy import Policy  # noqa: E402
from flows.reporter import data_rights  # noqa: E402
from flows.staff import route_admin  # noqa: E402
from flows.staff.commands import StaffCommands, StaffReply  # noqa: E402
from flows.staff.desk import Desk  # noqa: E402
from flows.staff.roles import Caller  # noqa: E402
from storage import Database, case_queries, cases  # noqa: E402
from storage.cases import CASES, EVIDENCE  # noqa: E402
from storage.reporters import REPORTERS  # noqa: E402
from storage.sealing import Keyring  # noqa: E402

STATUSES = [("baru", 1), ("menunggu_rute", 2), ("diteruskan", 30), ("diterima", 15), ("ditindaklanjuti", 15),
            ("selesai", 25), ("bukan_kewenangan", 3), ("ditolak", 9)]
UNACCEPTED = {"baru", "menunggu_rute", "diteruskan", "bukan_kewenangan"}
ADMIN = Caller(1, "Admin", 1, in_group=False)
POLICY = Policy(admin_ids=frozenset({1}))
DAYS = 730
CASE_SQL = (
    "INSERT INTO cases (id, number, status, reporter_id, channel, locale, region_code, province_code, agency_group,"
    " agency_unit, agency_name, person_name, person_position, person_status, incident_type, occurred_on, learned_on,"
    " place, latitude, longitude, description, witnesses, identity_mode, reporter_name, reporter_phone, consent_at,"
    " created_at, updated_at, routed_at, reminded_at, escalated_at)"
    " VALUES (?, ?, ?, ?, 'telegram', 'id', ?, ?, 'pemda', 'sekolah', ?, ?, ?, 'pns', ?,"
    " ?, ?, ?, NULL, NULL, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
"""The free text and the reporter's identity are sealed as the service seals them (issue 24):
each value sealed on its own, with its own nonce, so the file is as large as a real one."""


class _Sealing:
    """What `sealing.Table` needs of a transaction: the database's keys."""

    def __init__(self, keys: Keyring) -> None:
        self.keys = keys
DESCRIPTION = "Kepala sekolah mengunggah ajakan memilih paslon 2 di grup WhatsApp guru dan meminta guru ikut."


def group_of(region_code: str) -> int:
    return -1_000_000_000_000 - int(region_code.replace(".", ""))


def number_of(case_id: int) -> str:
    digits = []
    n = case_id
    for _ in range(5):
        n, r = divmod(n, len(case_number.ALPHABET))
        digits.append(case_number.ALPHABET[r])
    return f"LN-24-{''.join(reversed(digits))}"


def build(path: Path, total: int, now: datetime, keys: Keyring) -> None:
    """Bulk insert with the schema the migrations made; the indexes and triggers are
    dropped while inserting and recreated from their own SQL, the daily counts rebuilt."""
    tx: Any = _Sealing(keys)

    def sealed(table: Any, column: str, value: object) -> object:
        return table.seal(tx, column, value)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    saved = conn.execute("SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger')"
                         " AND sql IS NOT NULL AND tbl_name IN ('cases', 'evidence', 'case_posts')").fetchall()
    for kind, name, _sql in saved:
        conn.execute(f"DROP {kind.upper()} {name}")
    rng = random.Random(14)
    places = [r for r in regions.all_regions() if not r.is_province]
    weights = [rng.lognormvariate(0, 0.9) for _ in places]  # like population: the busiest about 2%
    statuses, status_weights = zip(*STATUSES, strict=True)
    types = [t.id for t in menus.INCIDENT_TYPES]
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO routes (region_code, chat_id, created_by, created_at) VALUES (?, ?, 'bench', ?)",
                     [(r.code, group_of(r.code), now.isoformat()) for r in places])
    reporters = max(1, total // 3)
    conn.executemany("INSERT INTO reporters (id, channel, address, address_sealed, created_at)"
                     " VALUES (?, 'telegram', ?, ?, ?)",
                     ((n, keys.lookup(str(10_000_000 + n)), sealed(REPORTERS, "address_sealed", str(10_000_000 + n)),
                       now.isoformat()) for n in range(1, reporters + 1)))
    chunk = 50_000
    for start in range(1, total + 1, chunk):
        rows, posts, evidence = [], [], []
        for case_id in range(start, min(start + chunk, total + 1)):
            region = rng.choices(places, weights)[0]
            status = rng.choices(statuses, status_weights)[0]
            created = now - timedelta(seconds=rng.uniform(0, DAYS * 86400))
            updated = min(now, created + timedelta(hours=rng.uniform(0, 24 * 30))) if status != "baru" else created
            age = now - created
            routed = created if status != "menunggu_rute" else None
            late = rng.random() < 0.0005  # a few the job has not seen yet: the check has work to do
            reminded = (created + timedelta(hours=24)).isoformat() \
                if routed and age > timedelta(hours=24) and not late else None
            escalated = (created + timedelta(hours=72)).isoformat() \
                if routed and age > timedelta(hours=72) and not late else None
            identity = rng.choices(["anonim", "rahasia", "terbuka"], [6, 3, 1])[0]
            name, phone = (None, None) if identity == "anonim" else ("Siti Aminah", "+6281234567890")
            day = created.date().isoformat()
            rows.append((case_id, number_of(case_id), status, rng.randint(1, reporters), region.code,
                         region.province_code, sealed(CASES, "agency_name", "SMPN 1"),
                         sealed(CASES, "person_name", "Budi"), sealed(CASES, "person_position", "Kepala Sekolah"),
                         rng.choice(types), day, day, sealed(CASES, "place", "Ruang guru"),
                         sealed(CASES, "description", DESCRIPTION), identity, sealed(CASES, "reporter_name", name),
                         sealed(CASES, "reporter_phone", phone), created.isoformat(), created.isoformat(),
                         updated.isoformat(), routed.isoformat() if routed else None, reminded, escalated))
            if routed:
                posts.append((case_id, group_of(region.code), created.isoformat(), case_id))
            evidence.append((case_id, sealed(EVIDENCE, "channel_ref", f"file-{case_id}"), f"{case_id:064x}",
                             created.isoformat()))
        conn.executemany(CASE_SQL, rows)
        conn.executemany("INSERT INTO case_posts (case_id, chat_id, created_at, message_id) VALUES (?, ?, ?, ?)", posts)
        conn.executemany("INSERT INTO evidence (case_id, position, kind, channel_ref, mime, size, sha256, created_at)"
                         " VALUES (?, 1, 'photo', ?, 'image/jpeg', 250000, ?, ?)", evidence)
    conn.execute("DELETE FROM case_counts")
    conn.execute("INSERT INTO case_counts (day, dimension, value, n)"
                 " SELECT substr(created_at, 1, 10), 'region', region_code, count(*) FROM cases GROUP BY 1, 3"
                 " UNION ALL SELECT substr(created_at, 1, 10), 'type', incident_type, count(*) FROM cases GROUP BY 1, 3"
                 " UNION ALL SELECT substr(created_at, 1, 10), 'status', status, count(*) FROM cases GROUP BY 1, 3")
    conn.execute("COMMIT")
    for _kind, _name, sql in saved:
        conn.execute(sql)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


async def timed(repeat: int, action: Callable[[], Awaitable[object]]) -> tuple[float, float, object]:
    result = await action()  # warm-up: the first read of a page range from disk
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = await action()
        times.append(time.perf_counter() - started)
    return statistics.median(times), max(times), result


async def measure(path: Path, repeat: int, now: datetime) -> list[tuple[str, float, float, str]]:
    from bot import charts

    db = await Database.open(path)
    commands = StaffCommands(db, POLICY, Desk(db, POLICY))
    focal = Caller(3, "Petugas", group_of("51.71"), in_group=True)
    busy_region = await _busiest_region(db)
    busy_focal = Caller(4, "Petugas", group_of(busy_region), in_group=True)
    rows: list[tuple[str, float, float, str]] = []
    counter = iter(range(10**9))

    async def command(caller: Caller, name: str, args: str = "", chart: bool = False) -> StaffReply:
        reply = await commands.run(caller, name, args, f"bench-{next(counter)}", now.isoformat())
        assert reply is not None
        if chart and reply.chart is not None:  # drawn afresh each time: the cache is emptied first
            charts._cache.clear()
            await charts.render_png_async(reply.chart, reply.chart_title or "", "id")
        return reply

    def first_line(reply: object) -> str:
        return str(getattr(reply, "text", reply)).splitlines()[0][:60]

    month = (now.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    since = (now - timedelta(days=30)).date().isoformat()
    week = (now - timedelta(days=7)).date().isoformat()
    staff_queries: list[tuple[str, Caller, str, str, bool]] = [
        ("/kasus (first page)", ADMIN, "kasus", "", False),
        ("/kasus halaman=50", ADMIN, "kasus", "halaman=50", False),
        ("/kasus status=diteruskan", ADMIN, "kasus", "status=diteruskan", False),
        ("/kasus status=baru halaman=3", ADMIN, "kasus", "status=baru halaman=3", False),
        ("/kasus wilayah=51 status=diterima halaman=2", ADMIN, "kasus", "wilayah=51 status=diterima halaman=2", False),
        ("/kasus wilayah=32", ADMIN, "kasus", "wilayah=32", False),
        (f"/kasus wilayah={busy_region}", ADMIN, "kasus", f"wilayah={busy_region}", False),
        ("/kasus jenis=media_sosial", ADMIN, "kasus", "jenis=media_sosial", False),
        ("/kasus jenis=mobilisasi status=selesai", ADMIN, "kasus", "jenis=mobilisasi status=selesai", False),
        (f"/kasus dari={since}", ADMIN, "kasus", f"dari={since}", False),
        (f"/kasus dari={week} sampai={now.date()}", ADMIN, "kasus", f"dari={week} sampai={now.date()}", False),
        (f"/kasus status=diteruskan dari={since}", ADMIN, "kasus", f"status=diteruskan dari={since}", False),
        (f"/kasus wilayah=51 jenis=media_sosial dari={since}", ADMIN, "kasus",
         f"wilayah=51 jenis=media_sosial dari={since}", False),
        ("/kasus as focal point (51.71)", focal, "kasus", "", False),
        ("/kasus status=diteruskan halaman=2 as focal point", focal, "kasus", "status=diteruskan halaman=2", False),
        (f"/kasus as focal point of the busiest region ({busy_region})", busy_focal, "kasus", "", False),
    ]
    for period in ("7", "30", "90", month):
        staff_queries.append((f"/statistik {period} as moderator", ADMIN, "statistik", period, False))
        staff_queries.append((f"/statistik {period} as focal point ({busy_region})", busy_focal, "statistik", period,
                              False))
    staff_queries.append(("/statistik 90 as moderator, chart drawn afresh", ADMIN, "statistik", "90", True))
    staff_queries.append(("/statistik 30 as focal point, chart drawn afresh", busy_focal, "statistik", "30", True))
    for label, caller, name, args, chart in staff_queries:
        median, worst, reply = await timed(repeat, lambda c=caller, n=name, a=args, ch=chart: command(c, n, a, ch))
        rows.append((label, median, worst, first_line(reply)))

    reply = await command(ADMIN, "statistik", "90")
    assert reply.chart is not None
    chart = reply.chart

    def fresh() -> bytes:
        charts._cache.clear()
        return charts.render_png(chart, "x", "id")

    median, worst, png = await timed(repeat, lambda: asyncio.to_thread(fresh))
    rows.append(("chart alone, drawn afresh (in a thread)", median, worst, f"{len(png)} bytes"))  # type: ignore[arg-type]
    median, worst, png = await timed(repeat, lambda: charts.render_png_async(chart, "x", "id"))
    rows.append(("chart alone, the same figures again (cached)", median, worst, f"{len(png)} bytes"))  # type: ignore[arg-type]

    number = (await command(ADMIN, "kasus", "")).text.splitlines()[1].split()[0]
    median, worst, reply = await timed(repeat, lambda: command(ADMIN, "lihat", number))
    rows.append((f"/lihat {number}", median, worst, first_line(reply)))
    engine = Engine(db, policy=POLICY)
    async with db.reading() as tx:
        reporter = (await cases.by_number(tx, number)).reporter_id  # type: ignore[union-attr]
    address = str(10_000_000 + reporter)

    async def status() -> object:
        inbound = Inbound("telegram", address, f"status-{next(counter)}", Command("status", ""), now, "id")
        return (await engine.handle(inbound)).replies[0].text  # type: ignore[union-attr]

    median, worst, text = await timed(repeat, status)
    rows.append(("/status (a reporter's cases)", median, worst, str(text).splitlines()[0][:60]))

    async def due() -> object:
        async with db.reading() as tx:
            reminders = await cases.due_reminders(tx, (now - POLICY.remind_after).isoformat())
            escalations = await cases.due_escalations(tx, (now - POLICY.escalate_after).isoformat())
        return f"{len(reminders)} reminders, {len(escalations)} escalations due"

    median, worst, text = await timed(repeat, due)
    rows.append(("deadline queries (every minute)", median, worst, str(text)))
    median, worst, text = await timed(repeat, lambda: _rolled_back(db, lambda tx: deadlines.run_due(tx, POLICY, now)))
    rows.append(("deadline job, queued and rolled back", median, worst, str(text)))

    async with db.reading() as tx:
        waiting = len(await cases.waiting_for_route(tx))

    async def new_route(tx: object) -> str:
        """The busiest region's group registers anew; its routes are set aside first."""
        await tx.execute("DELETE FROM routes WHERE region_code = ?", (busy_region,))  # type: ignore[attr-defined]
        added = await route_admin.add(tx, POLICY, busy_region, -42, by="bench", at=now.isoformat())  # type: ignore[arg-type]
        return f"{len(added.forwarded)} of the {waiting:,} waiting cases forwarded"

    median, worst, text = await timed(repeat, lambda: _rolled_back(db, new_route))
    rows.append((f"a route added ({busy_region}), rolled back", median, worst, str(text)))

    async def retention() -> object:
        async with db.reading() as tx:
            return len(await case_queries.closed_with_identity(tx, (now - POLICY.retention).isoformat()))

    median, worst, text = await timed(repeat, retention)
    rows.append(("retention query (daily)", median, worst, f"{text} closed cases still with identity (a batch)"))
    median, worst, text = await timed(repeat, lambda: _rolled_back(
        db, lambda tx: data_rights.apply_retention(tx, POLICY, now)))
    rows.append(("retention job, erasing that batch, rolled back", median, worst, f"{text} cases"))
    await db.close()
    return rows


class _Undo(Exception):
    pass


async def _rolled_back(db: Database, work: Callable[[object], Awaitable[object]]) -> object:
    """Run a job in a write transaction and roll it back, so every repeat finds the same work."""
    result: object = None
    try:
        async with db.transaction() as tx:
            result = await work(tx)
            raise _Undo
    except _Undo:
        return result


async def _busiest_region(db: Database) -> str:
    async with db.reading() as tx:
        rows = await tx.execute_fetchall("SELECT value FROM case_counts WHERE dimension = 'region'"
                                         " GROUP BY value ORDER BY sum(n) DESC LIMIT 1")
    return str(next(iter(rows))[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", type=Path, default=None,
                        help="folder to build the database in and keep it (reused when it exists)")
    args = parser.parse_args()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="lapor-case-scale-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"cases-{args.cases}.db"
        if not path.exists():
            started = time.perf_counter()
            keys = asyncio.run(_migrated(path))
            with keys.pinned():  # minutes of bulk sealing; nothing rotates this file's key meanwhile
                build(path, args.cases, now, keys)
            print(f"built {args.cases:,} cases in {time.perf_counter() - started:.0f} s "
                  f"({path.stat().st_size / 2**20:.0f} MiB) at {path}")
        rows = asyncio.run(measure(path, args.repeat, now))
    width = max(len(r[0]) for r in rows)
    print(f"\n{'query':<{width}}  {'median':>9}  {'worst':>9}  answer")
    over = 0
    for label, median, worst, answer in rows:
        flag = "" if worst < 0.2 else "  OVER 200 ms"
        over += worst >= 0.2
        print(f"{label:<{width}}  {median * 1000:7.1f} ms  {worst * 1000:7.1f} ms  {answer}{flag}")
    print(f"\n{len(rows) - over}/{len(rows)} under 200 ms (worst of {args.repeat} runs after a warm-up)")


async def _migrated(path: Path) -> Keyring:
    """The migrated, empty file, and the keys its data key unwrapped (the key file beside it)."""
    db = await Database.open(path, checkpoint_every=None)
    await db.close()
    return db.keys


if __name__ == "__main__":
    main()
