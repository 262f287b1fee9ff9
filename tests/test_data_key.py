"""Issue 24: the data key lives outside the data. The first start makes a private key file;
`keygen` prints a key; a key that does not open the database is refused at start in one
line (exit code 2), before anything is sent or changed; `check` says whether the key opens
the database; `rotate-key`, killed with SIGKILL and run again, leaves every value and file
readable under the new key only. Real processes, both backends."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import stat
import sys
from pathlib import Path

import pytest

from storage import Database, at_rest, outbox, reporters, sealing
from storage.cases import NewCase, NewEvidence
from storage.evidence_files import EvidenceStore
from storage.sealing import KeySource, Table
from tests import fake_telegram as tg
from tests.backends import TEST_KEY, Backend
from tests.fake_telegram import FakeTelegram
from tests.test_check import cli, environment, telegram_env

OTHER_KEY = sealing.new_data_key()


def backend_env(backend: Backend, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The service's settings on the test's backend: its file (and key file) or its URL."""
    env = environment(tmp_path, **extra)
    env.update(backend.env())
    return env


def snapshot(backend: Backend) -> str:
    """Everything the database holds, as one hash (to see that nothing changed)."""
    with backend.connect() as db:
        return hashlib.sha256("\n".join(sorted(db.iterdump())).encode()).hexdigest()


async def seed(backend: Backend, cases: int = 1, messages: int = 1) -> None:
    """A reporter with cases and evidence, and messages waiting to be sent to them."""
    from storage import cases as stored

    db = await backend.open(evidence=backend.evidence_dir)
    try:
        store = EvidenceStore.for_database(db, backend.evidence_dir)
        photo = await store.put(b"\xff\xd8 a photo of Siti Aminah " * 50)
        async with db.transaction() as tx:
            reporter = await reporters.upsert(tx, "telegram", "730111222", "id", "2024-11-20T10:00:00+00:00")
            for n in range(cases):
                await stored.insert(tx, NewCase(
                    number=f"LN-24-{n:05d}", reporter_id=reporter, channel="telegram", locale="id",
                    region_code="51.71", province_code="51", agency_group="pemda", agency_unit="sekolah",
                    agency_name="SMPN 1 Denpasar", person_name="Budi Santoso", person_position="Kepala",
                    person_status="pns", incident_type="media_sosial", occurred_on="2024-11-19",
                    learned_on="2024-11-19", place="Ruang guru", latitude=-8.65, longitude=115.21,
                    description="Kepala sekolah mengunggah ajakan memilih paslon 2 di grup guru.", witnesses=None,
                    identity_mode="rahasia", reporter_name="Siti Aminah", reporter_phone="+6281234567890",
                    consent_at="2024-11-20T10:00:00+00:00", created_at="2024-11-20T10:00:00+00:00"),
                    [NewEvidence("photo", "file-id", None, "image/jpeg", photo.size, photo.sha256, "Siti.jpg")])
            for n in range(messages):
                await outbox.enqueue(tx, "telegram", "730111222", "send",
                                     {"replies": [{"type": "text", "text": f"Kabar {n} untuk Siti Aminah"}]},
                                     "2024-11-20T10:00:00+00:00")
        store.release([photo.sha256])
    finally:
        await db.close()


async def test_the_first_start_makes_a_private_key_file(tmp_path: Path) -> None:
    env = environment(tmp_path)
    code, lines = await cli(tmp_path, "migrate", env=env)
    assert code == 0, lines
    key_file = tmp_path / "data" / "lapor.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    data_key = KeySource(None, key_file).read()
    assert data_key is not None
    assert key_file.read_text().strip() not in (tmp_path / "data" / "lapor.db").read_bytes().decode("latin-1")
    code, lines = await cli(tmp_path, "check", "--for", "run", env=env)
    assert any(line.startswith("✓") and "Kunci data" in line and data_key.id in line for line in lines), lines
    assert key_file.read_text().strip() not in "\n".join(lines), "the key is never printed"


async def test_keygen_prints_a_new_key_and_nothing_else(tmp_path: Path) -> None:
    code, lines = await cli(tmp_path, "keygen", env=environment(tmp_path))
    assert code == 0 and len(lines) == 1
    assert len(sealing.parse_data_key(lines[0])) == 32
    assert (await cli(tmp_path, "keygen", env=environment(tmp_path)))[1] != lines, "a new one each time"
    assert not (tmp_path / "data").exists(), "keygen touches nothing"


@pytest.mark.slow  # the service and check as processes
@pytest.mark.parametrize("how", ["DATA_KEY", "DATA_KEY_FILE"])
async def test_a_wrong_key_is_refused_at_start_and_nothing_is_sent_or_changed(
        fake: FakeTelegram, backend: Backend, tmp_path: Path, how: str) -> None:
    await seed(backend)
    before = snapshot(backend)
    if how == "DATA_KEY":
        env = backend_env(backend, tmp_path, DATA_KEY=OTHER_KEY, **telegram_env(fake))
    else:
        wrong = tmp_path / "other.key"
        wrong.write_text(OTHER_KEY)
        env = backend_env(backend, tmp_path, DATA_KEY_FILE=str(wrong), **telegram_env(fake))
    for command in ("run", "console", "cases"):
        code, lines = await cli(tmp_path, command, env=env, timeout=30)
        assert code == 2, (command, lines)
        assert len(lines) == 1 and how in lines[0] and "tidak cocok dengan basis data ini" in lines[0], (command, lines)
        assert OTHER_KEY not in lines[0] and "Traceback" not in lines[0]
    assert not fake.calls, "nothing was asked of Telegram, nothing sent"
    assert snapshot(backend) == before, "nothing changed"
    code, lines = await cli(tmp_path, "check", "--for", "run", env=env, timeout=30)
    assert code == 1 and any(line.startswith("✗ Kunci data") and how in line for line in lines), lines
    assert snapshot(backend) == before, "check changes nothing either"


def _values(backend: Backend, keys: sealing.Keyring) -> tuple[int, set[str]]:
    """Every sealed value of every table, opened with `keys`: how many, and the key ids."""
    at_rest.tables()
    opened = 0
    ids: set[str] = set()
    with backend.connect() as db:
        for table in Table.registry.values():
            if table.only and table.only != backend.kind or not table.kinds:
                continue
            for column in table.kinds:
                for (value,) in db.execute(f"SELECT {column} FROM {table.name} WHERE {column} IS NOT NULL").fetchall():
                    value = bytes(value)
                    if value.startswith(sealing.ERASED):
                        continue
                    keys.open(value, table.where(column))
                    ids.add(keys.key_of(value))
                    opened += 1
    return opened, ids


async def _opened_keys(backend: Backend, source: KeySource) -> sealing.Keyring:
    db = await Database.open(backend.target, key=source)
    try:
        return db.keys
    finally:
        await db.close()


async def _resealed(backend: Backend, new_id: str) -> int:
    """How many cases' descriptions are sealed with the new values key (read as a copy would)."""
    with backend.connect() as db:
        return sum(1 for (value,) in db.execute("SELECT description FROM cases").fetchall()
                   if bytes(value)[1:5].hex() == new_id)


@pytest.mark.slow  # rotate-key as processes, one killed; each waits SETTLE_SECONDS (~32 s)
@pytest.mark.timeout(300)
async def test_rotate_key_killed_and_run_again_leaves_everything_under_the_new_key_only(
        backend: Backend, tmp_path: Path) -> None:
    await seed(backend, cases=3000, messages=200)
    env = backend_env(backend, tmp_path)
    key_file = tmp_path / "lapor.key"
    old = KeySource(None, key_file).read()
    assert old is not None
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "rotate-key", cwd=tmp_path, env=env,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    pending = at_rest.pending_key_file(KeySource(None, key_file))
    new_id = ""
    try:
        for _ in range(1800):  # until the rotation is under way (after SETTLE_SECONDS): some values sealed again
            await asyncio.sleep(0.05)
            if not new_id and pending.exists():
                with backend.connect() as db:
                    rows = db.execute("SELECT id, kek FROM keyring WHERE purpose = 'values' AND active = 1").fetchall()
                new_key = KeySource(None, pending).read()
                assert new_key is not None
                new_id = next((str(r[0]) for r in rows if r[1] == new_key.id), "")
            if new_id and 0 < await _resealed(backend, new_id) < 3000:
                break
        else:
            raise AssertionError("the rotation never got under way")
        os.kill(process.pid, signal.SIGKILL)
    finally:
        await process.wait()
    assert process.returncode == -signal.SIGKILL
    assert 0 < await _resealed(backend, new_id) < 3000, "killed halfway through"
    code, lines = await cli(tmp_path, "rotate-key", env=env, timeout=120)
    assert code == 0, lines
    assert not pending.exists(), "the new key took the old one's place"
    new = KeySource(None, key_file).read()
    assert new is not None and new.id != old.id
    keys = await _opened_keys(backend, KeySource(None, key_file))
    count, ids = _values(backend, keys)
    assert count > 3000 * 5 and ids == {keys.current_id}, "every value sealed with the new values key"
    with pytest.raises(sealing.WrongKey):
        await Database.open(backend.target, key=KeySource(TEST_KEY, Path("unused")))
    with backend.connect() as db:
        assert {str(r[0]) for r in db.execute("SELECT kek FROM keyring").fetchall()} == {new.id}, "old key's rows gone"
    db = await Database.open(backend.target, key=KeySource(None, key_file))
    try:
        store = EvidenceStore.for_database(db, backend.evidence_dir)
        names = [name async for name, _size in store.blobs.listing()]
        assert names
        for name in names:
            assert keys.key_of(await store.blobs.head(name, 68) or b"") == keys.current_id, "its header re-wrapped"
            sha = store.sha_of(name)
            assert sha is not None and hashlib.sha256(await store.get(sha) or b"").hexdigest() == sha
    finally:
        await db.close()


async def test_workers_on_a_disk_the_platform_wipes_are_refused_without_data_key(tmp_path: Path) -> None:
    """A key file made by the first worker on Heroku would go with the next restart, and every
    sealed value with it."""
    env = environment(tmp_path, DATABASE_URL="postgresql://lapor@127.0.0.1:9/lapor", DYNO="web.1",
                      PUBLIC_BASE_URL="https://lapor.example.org", TELEGRAM_WEBHOOK_SECRET="s3cret",
                      TELEGRAM_BOT_TOKEN=tg.TOKEN, TELEGRAM_BASE_URL="http://127.0.0.1:9/bot")
    code, lines = await cli(tmp_path, "serve", env=env, timeout=30)
    assert code == 2 and any(line.startswith("DATA_KEY belum diatur") and "Heroku" in line for line in lines), lines
    code, lines = await cli(tmp_path, "serve", env={**env, "DATA_KEY": OTHER_KEY}, timeout=30)
    assert code == 2 and not any(line.startswith("DATA_KEY") for line in lines), "set: the next problem is named"
    assert OTHER_KEY not in "\n".join(lines)
