"""Issue 24: `python -m bot backup --out FILE` and `restore FILE`, as real processes on both
backends. A backup is sealed by construction (no plain identity, no key in it), made while
the database is in use; a restore needs the data key the backup was made with, and does not
replace a database that holds cases unless asked to."""

from __future__ import annotations

import stat
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from storage import Database, cases
from storage.evidence_files import EvidenceStore
from storage.sealing import KeySource
from tests.backends import TEST_KEY, Backend, _psycopg_dsn
from tests.test_check import cli, environment
from tests.test_data_key import OTHER_KEY, backend_env, seed


@contextmanager
def empty_target(backend: Backend, folder: Path) -> Iterator[dict[str, str]]:
    """Settings for another installation to restore into: a fresh folder, or an empty PostgreSQL database."""
    env = environment(folder, DATA_KEY=TEST_KEY)
    if not backend.postgres:
        yield env
        return
    import psycopg

    assert backend.url is not None
    name = f"r_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_psycopg_dsn(backend.url), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield {**env, "DATABASE_URL": backend.url.replace(backend.url.split("?")[0].rsplit("/", 1)[1], name, 1)}
    finally:
        with psycopg.connect(_psycopg_dsn(backend.url), autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def test_a_backup_restores_elsewhere_only_with_its_key(backend: Backend, tmp_path: Path) -> None:
    await seed(backend, cases=3)
    out = tmp_path / "copies" / "lapor.backup"
    code, lines = await cli(tmp_path, "backup", "--out", str(out), env=backend_env(backend, tmp_path))
    assert code == 0 and "Cadangan ditulis" in lines[0] and "Simpan kunci data di tempat lain" in lines[-1], lines
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    data = out.read_bytes()
    assert b"Siti Aminah" not in data and b"730111222" not in data and TEST_KEY.encode() not in data
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with empty_target(backend, elsewhere) as env:
        code, lines = await cli(elsewhere, "restore", str(out), env={**env, "DATA_KEY": OTHER_KEY})
        assert code == 2 and len(lines) == 1 and "tidak cocok dengan cadangan ini" in lines[0], lines
        assert not (elsewhere / "data" / "lapor.db").exists(), "a refused restore changes nothing"
        code, lines = await cli(elsewhere, "restore", str(out), env=env)
        assert code == 0 and "Dipulihkan" in lines[0], lines
        target = env.get("DATABASE_URL") or Path(env["DATABASE_PATH"])
        db = await Database.open(target, key=KeySource(TEST_KEY, Path("unused")))
        try:
            async with db.reading() as tx:
                restored = await cases.by_number(tx, "LN-24-00002")
                assert restored is not None and restored.reporter_name == "Siti Aminah"
                (photo,) = await cases.evidence_of(tx, restored.id)
            store = EvidenceStore.for_database(db, Path(env["EVIDENCE_DIR"]))
            assert (await store.get(photo.sha256) or b"").startswith(b"\xff\xd8 a photo of Siti Aminah")
        finally:
            await db.close()
        code, lines = await cli(elsewhere, "restore", str(out), env=env)
        assert code == 2 and "--force" in lines[0], "a database with cases is not replaced unasked"
        code, lines = await cli(elsewhere, "restore", str(out), "--force", env=env)
        assert code == 0, lines
