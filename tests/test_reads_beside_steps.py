"""Issue 14: reads never stall steps. `/statistik` on a large database runs on a reading
connection of its own (WAL lets readers work beside the writer), so a reporter's step
never queues behind it.

What is asserted is queueing, not time: whether a step can begin and end while one and
the same statistics read is in flight. A step queued behind the read in front of it cannot
finish before that read does, so no step ever lies inside a read; a step that does not
wait lies inside one whenever it starts during a read (reads run back to back here), however
fast or slow the machine is."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flows.engine import Engine
from flows.events import Inbound
from flows.policy import Policy
from flows.staff.commands import StaffCommands
from flows.staff.desk import Desk
from flows.staff.roles import Caller
from storage import Database
from storage.case_queries import CaseFilter, counts
from storage.cases import CASES
from storage.sealing import Keyring
from tests.chat import HAPPY_PATH, START, parse

GROUP = -100100
FOCAL = Caller(3, "Petugas", GROUP, in_group=True)
POLICY = Policy()


def bulk_cases(path: Path, total: int, keys: Keyring) -> None:
    """`total` cases in one focal point's group, inserted in one go with plain sqlite3 (what
    the service seals, sealed with the database's keys)."""
    conn = sqlite3.connect(path, isolation_level=None)
    now = datetime.now(UTC)
    conn.execute("BEGIN")
    conn.execute("INSERT INTO routes (region_code, chat_id, created_by, created_at) VALUES ('51.71', ?, 't', ?)",
                 (GROUP, now.isoformat()))
    conn.execute("INSERT INTO reporters (id, channel, address, created_at) VALUES (1, 'test', ?, ?)",
                 (keys.lookup("bulk"), now.isoformat()))
    types = ("media_sosial", "alat_peraga", "mobilisasi")
    statuses = ("diteruskan", "diterima", "selesai")
    place = keys.seal(b"Ruang guru", CASES.where("place"))
    description = keys.seal(b"Kepala sekolah mengunggah ajakan memilih paslon.", CASES.where("description"))
    conn.executemany(
        "INSERT INTO cases (id, number, status, reporter_id, channel, locale, region_code, province_code, agency_group,"
        " person_status, incident_type, occurred_on, learned_on, place, description, identity_mode, consent_at,"
        " created_at, updated_at) VALUES (?, ?, ?, 1, 'test', 'id', '51.71', '51', 'pemda', 'pns', ?, '2024-11-19',"
        " '2024-11-19', ?, ?, 'anonim', ?, ?, ?)",
        ((n, f"LN-24-{n:05d}", statuses[n % 3], types[n % 3], place, description, at, at, at)
         for n in range(1, total + 1) for at in [(now - timedelta(minutes=n)).isoformat()]))
    conn.executemany("INSERT INTO case_posts (case_id, chat_id, created_at) VALUES (?, ?, ?)",
                     ((n, GROUP, now.isoformat()) for n in range(1, total + 1)))
    conn.execute("COMMIT")
    conn.close()


async def test_statistics_on_a_large_database_do_not_hold_up_reporters_steps(tmp_path: Path) -> None:
    path = tmp_path / "lapor.db"
    made = await Database.open(path)
    await made.close()
    bulk_cases(path, 40_000, made.keys)
    db = await Database.open(path)
    engine = Engine(db, policy=POLICY)
    commands = StaffCommands(db, POLICY, Desk(db, POLICY))
    finished_reads = 0
    in_flight: set[tuple[int, int]] = set()
    stepping = True

    async def statistics(who: int) -> None:
        """An officer asking for the group's statistics over and over: a read of every case
        the group has, for as long as the reporters are at it."""
        nonlocal finished_reads
        n = 0
        while stepping:
            n += 1
            reply = await commands.run(FOCAL, "statistik", "3660", f"stats-{who}-{n}", datetime.now(UTC).isoformat())
            assert reply is not None and reply.chart is not None and reply.chart.total >= 40_000
            async with db.reading() as tx:  # the same query again, three times in one read, marked
                in_flight.add((who, n))
                for _ in range(3):
                    found = await counts(tx, CaseFilter(since="2015-01-01", chat_id=GROUP))
                in_flight.discard((who, n))
            assert found.total >= 40_000
            finished_reads += 1

    inside: list[bool] = []
    """Per step that began during a read: whether that same read was still going when the step ended."""

    async def reporter(name: str) -> None:
        for number, line in enumerate([*HAPPY_PATH, "@send"]):
            during = set(in_flight)
            await engine.handle(Inbound("test", name, f"{name}-{number}", parse(line),
                                        START + timedelta(seconds=number), "id"))
            if during:
                inside.append(bool(during & in_flight))

    readers = [asyncio.create_task(statistics(n)) for n in range(2)]
    try:
        while finished_reads == 0:  # the reads are under way before the first step
            await asyncio.sleep(0.01)
        await asyncio.wait_for(asyncio.gather(*(reporter(f"r{n}") for n in range(4))), 90)
    finally:
        stepping = False
        try:
            done = await asyncio.gather(*readers, return_exceptions=True)
        finally:
            await db.close()  # always: an open connection's thread would keep the process alive
    errors = [r for r in done if isinstance(r, BaseException)]
    assert not errors, errors
    assert finished_reads >= 2, "the reads ran all along the steps"
    assert len(inside) >= 8, f"only {len(inside)} steps began while a marked read was going on"
    share = sum(inside) / len(inside)
    # Queued behind the reads, no step could ever end inside the read it began in (share 0).
    print(f"{share:.0%} of {len(inside)} steps ran inside a read ({finished_reads} reads)")
    assert share >= 0.4, f"only {share:.0%} of {len(inside)} steps ran inside a read ({finished_reads} reads)"
