"""`python -m bot migrate-db --to postgresql://...` moves a real installation: a SQLite
database filled through the Telegram flow (photos in the evidence directory, a case sent
to its group, a reporter halfway through a second report), copied twice, checked, and
then used on PostgreSQL as if nothing happened."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.engine import Engine
from flows.policy import Policy
from flows.staff import route_admin
from storage import Database, cases, conversations
from storage.evidence_files import EvidenceStore
from tests.backends import Backend, _psycopg_dsn
from tests.chat import HAPPY_PATH, Chat
from tests.fake_telegram import FakeTelegram
from tests.postgres_server import PostgresServer
from tests.reports import jpeg_with_gps
from tests.telegram_harness import Reporter, polling_bot, settings_for, submit_report

pytestmark = pytest.mark.slow  # migrate-db run as a process

GROUP = -100555
PHOTOS = [jpeg_with_gps(800, 800, shade, noise=True) for shade in (10, 20)]  # real photos, each more than one chunk


@pytest.fixture
def empty_postgres(postgres_server: PostgresServer) -> Iterator[str]:
    """A new, empty database: migrate-db creates the schema itself."""
    import psycopg

    name = f"move_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_psycopg_dsn(postgres_server.url()), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield postgres_server.url(name)
    with psycopg.connect(_psycopg_dsn(postgres_server.url()), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def migrate_db(sqlite: Backend, url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "TWILIO_", "DATABASE_"))}
    env.update(sqlite.env())
    return subprocess.run([sys.executable, "-m", "bot", "migrate-db", "--to", url, "--lang", "en"], capture_output=True,
                          text=True, env=env, cwd=sqlite.tmp_path, timeout=120)


async def fill(sqlite: Backend, fake: FakeTelegram) -> str:
    db = await sqlite.open()
    async with db.transaction() as tx:
        await route_admin.add(tx, Policy(), "51.71", GROUP, by="test", at="2024-11-20T00:00:00+00:00")
    await db.close()
    settings = settings_for(fake, sqlite, delivery_poll_seconds=0.05)
    async with polling_bot(settings):
        number = await submit_report(Reporter(fake, 4242), PHOTOS, identity="rahasia")
        await fake.wait_for(lambda: any(c.method == "sendMediaGroup" and c.result for c in fake.calls))
    db = await sqlite.open()
    halfway = Chat(Engine(db), address="9090", channel="telegram")
    await halfway.run(*HAPPY_PATH[:12])
    await db.close()
    return number


async def test_migrate_db_copies_everything_checks_it_and_the_service_goes_on(
        tmp_path: Path, fake: FakeTelegram, empty_postgres: str) -> None:
    sqlite = Backend("sqlite", tmp_path)
    number = await fill(sqlite, fake)

    first = migrate_db(sqlite, empty_postgres)
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.strip().endswith("OK")
    files = [p for p in (tmp_path / "evidence").glob("??/*") if p.is_file()]
    assert len(files) == 4, "the two photos and the cleaned copies the group was sent"
    assert "evidence files: 4 (4 copied now), 0 failing their SHA-256" in first.stdout
    again = migrate_db(sqlite, empty_postgres)  # idempotent: the same result, nothing doubled
    assert again.returncode == 0 and "evidence files: 4 (0 copied now)" in again.stdout, again.stdout
    counts = [line.split() for line in again.stdout.splitlines()
              if line.split()[:1] in (["cases"], ["evidence"]) and len(line.split()) == 3]
    assert counts == [["cases", "1", "1"], ["evidence", "2", "2"]]
    query = "SELECT day, dimension, value, n FROM case_counts ORDER BY day, dimension, value"
    with sqlite.connect() as a, Backend("postgresql", tmp_path, empty_postgres).connect() as b:
        assert [tuple(r) for r in b.execute(query).fetchall()] == [tuple(r) for r in a.execute(query).fetchall()], \
            "the daily counts are the copy's, not counted again by the triggers as the cases went in"

    db = await Database.open(empty_postgres)
    try:
        async with db.reading() as tx:
            moved = await cases.by_number(tx, number)
            assert moved is not None and moved.reporter_name == "Siti Aminah" and moved.status == "diteruskan"
            shas = [e.sha256 for e in await cases.evidence_of(tx, moved.id)]
        store = EvidenceStore.for_database(db, tmp_path / "elsewhere")  # no local disk needed
        assert [await store.get(sha) for sha in shas if sha] == PHOTOS
        assert shas == [hashlib.sha256(p).hexdigest() for p in PHOTOS]
        halfway = Chat(Engine(db), address="9090", channel="telegram", update_prefix="after-move")
        halfway.now = halfway.now.replace(hour=12)
        assert await halfway.state() == "place", "a conversation halfway through goes on where it was"
        await halfway.run(*HAPPY_PATH[12:], "@send")
        async with db.reading() as tx:
            newest = (await cases.recent(tx, 1))[0]
            stored = await conversations.load(tx, "telegram", "9090")
        assert newest.id > moved.id, "new rows get new ids: the sequences were moved past the copied ones"
        assert stored is not None and stored.state == "done"
    finally:
        await db.close()


async def test_a_corrupted_evidence_file_fails_the_check(tmp_path: Path, empty_postgres: str) -> None:
    sqlite = Backend("sqlite", tmp_path)
    db = await sqlite.open()
    await db.close()
    store = EvidenceStore(sqlite.evidence_dir)
    good, bad = await store.put(b"a photo" * 1000), await store.put(b"another photo" * 1000)
    assert bad.path is not None
    bad.path.write_bytes(b"changed on disk")
    result = migrate_db(sqlite, empty_postgres)
    assert result.returncode == 1 and result.stdout.strip().endswith("FAILED")
    assert "evidence files: 2 (1 copied now), 1 failing their SHA-256" in result.stdout
    assert good.sha256


def test_migrate_db_refuses_a_target_that_is_not_postgresql(tmp_path: Path) -> None:
    sqlite = Backend("sqlite", tmp_path)
    result = migrate_db(sqlite, str(tmp_path / "other.db"))
    assert result.returncode == 2 and "postgresql://" in result.stderr


async def test_migrate_db_refuses_to_overwrite_another_installation(tmp_path: Path, fake: FakeTelegram,
                                                                  empty_postgres: str) -> None:
    first, second = Backend("sqlite", tmp_path / "one"), Backend("sqlite", tmp_path / "two")
    for backend in (first, second):
        backend.tmp_path.mkdir()
        db = await backend.open()
        chat = Chat(Engine(db), address=f"r-{backend.tmp_path.name}")
        await chat.run(*HAPPY_PATH, "@send")
        await db.close()
    assert migrate_db(first, empty_postgres).returncode == 0
    refused = migrate_db(second, empty_postgres)
    assert refused.returncode == 2 and "refusing to overwrite another installation" in refused.stderr
    db = await Database.open(empty_postgres)
    try:
        async with db.reading() as tx:
            assert await cases.count(tx) == 1, "nothing was overwritten"
    finally:
        await db.close()
