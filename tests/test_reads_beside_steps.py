"""Issue 14: reads never stall steps. `/statistik` on a large database runs on a reading
connection of its own (WAL lets readers work beside the writer), so a reporter's step
never queues behind it.

What is asserted is queueing, not time. The statistics' scan of 40,000 cases is stopped in
the middle, on its reading connection's thread (SQLite's progress handler waits there for
an event the test sets), and held there while four reporters file whole reports. A step
queued behind the read could not finish until the test lets the read go, so the reports
would never be filed; however fast or slow the machine is, that is the one outcome a read
that holds up steps can have."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flows.engine import Engine
from flows.events import Inbound
from flows.policy import Policy
from flows.staff.commands import StaffCommands
from flows.staff.desk import Desk
from flows.staff.roles import Caller
from storage import Database
from storage.case_queries import CaseFilter, counts
from storage.sqlite import READERS
from tests.chat import HAPPY_PATH, START, parse

GROUP = -100100
FOCAL = Caller(3, "Petugas", GROUP, in_group=True)
POLICY = Policy()
LONG_STATEMENT = 50_000
"""SQLite virtual-machine instructions between calls of the progress handler: a look-up of a
role or a route never reaches it, a scan of thousands of cases calls it at once."""


def bulk_cases(path: Path, total: int) -> None:
    """`total` cases in one focal point's group, inserted in one go with plain sqlite3."""
    conn = sqlite3.connect(path, isolation_level=None)
    now = datetime.now(UTC)
    conn.execute("BEGIN")
    conn.execute("INSERT INTO routes (region_code, chat_id, created_by, created_at) VALUES ('51.71', ?, 't', ?)",
                 (GROUP, now.isoformat()))
    conn.execute("INSERT INTO reporters (id, channel, address, created_at) VALUES (1, 'test', 'bulk', ?)",
                 (now.isoformat(),))
    types = ("media_sosial", "alat_peraga", "mobilisasi")
    statuses = ("diteruskan", "diterima", "selesai")
    conn.executemany(
        "INSERT INTO cases (id, number, status, reporter_id, channel, locale, region_code, province_code, agency_group,"
        " person_status, incident_type, occurred_on, learned_on, place, description, identity_mode, consent_at,"
        " created_at, updated_at) VALUES (?, ?, ?, 1, 'test', 'id', '51.71', '51', 'pemda', 'pns', ?, '2024-11-19',"
        " '2024-11-19', 'Ruang guru', 'Kepala sekolah mengunggah ajakan memilih paslon.', 'anonim', ?, ?, ?)",
        ((n, f"LN-24-{n:05d}", statuses[n % 3], types[n % 3], at, at, at)
         for n in range(1, total + 1) for at in [(now - timedelta(minutes=n)).isoformat()]))
    conn.executemany("INSERT INTO case_posts (case_id, chat_id, created_at) VALUES (?, ?, ?)",
                     ((n, GROUP, now.isoformat()) for n in range(1, total + 1)))
    conn.execute("COMMIT")
    conn.close()


async def test_statistics_on_a_large_database_do_not_hold_up_reporters_steps(tmp_path: Path) -> None:
    path = tmp_path / "lapor.db"
    await (await Database.open(path)).close()
    bulk_cases(path, 40_000)
    db = await Database.open(path)
    engine = Engine(db, policy=POLICY)
    commands = StaffCommands(db, POLICY, Desk(db, POLICY))
    loop = asyncio.get_running_loop()
    reading = asyncio.Event()
    release = threading.Event()
    held: list[str] = []

    def hold() -> int:
        """SQLite's progress handler, on the reading connection's own thread: the first long
        statement stops here, in the middle of its scan, until the test lets it go."""
        if not held:
            held.append(threading.current_thread().name)
            loop.call_soon_threadsafe(reading.set)
            release.wait(120)  # only a safety net: the test always releases it
        return 0  # go on

    try:
        await on_every_reading_connection(db, lambda conn: conn.set_progress_handler(hold, LONG_STATEMENT))
        statistics = asyncio.create_task(
            commands.run(FOCAL, "statistik", "3660", "stats-1", datetime.now(UTC).isoformat()))
        await asyncio.wait_for(reading.wait(), 60)  # the statistics' scan of the 40,000 cases is under way

        async def reporter(name: str) -> str | None:
            handled = None
            for number, line in enumerate([*HAPPY_PATH, "@send"]):
                handled = await engine.handle(Inbound("test", name, f"{name}-{number}", parse(line),
                                                      START + timedelta(seconds=number), "id"))
            assert handled is not None
            return handled.case_number

        # Queued behind the read, not one of these steps could finish before it is released.
        try:
            numbers = await asyncio.wait_for(asyncio.gather(*(reporter(f"r{n}") for n in range(4))), 60)
        except TimeoutError:
            raise AssertionError("reporters' steps waited for the statistics' read") from None
        assert all(numbers) and len(set(numbers)) == 4, numbers
        assert not statistics.done(), "the statistics' read was still going all along the steps"
        release.set()
        reply = await asyncio.wait_for(statistics, 60)
        assert reply is not None and reply.chart is not None
        assert reply.chart.total == 40_000, "the read saw the database as it was when it began"
        async with db.reading() as tx:
            total = (await counts(tx, CaseFilter(since="2015-01-01"))).total
        assert total == 40_004, "the four reports filed meanwhile are there for the next read"
    finally:
        release.set()
        await db.close()


async def on_every_reading_connection(db: Database, setup: Callable[[Any], Awaitable[None]]) -> None:
    """Open the pool's reading connections all at once and set each one up (with aiosqlite's
    connection, as `reading()` yields it), so that whichever a read takes is set up."""
    everyone_in = asyncio.Barrier(READERS)

    async def one() -> None:
        async with db.reading() as tx:
            await setup(tx.conn)  # type: ignore[attr-defined]  # SQLite's ReadTx: the connection beneath
            await everyone_in.wait()

    await asyncio.gather(*(one() for _ in range(READERS)))
