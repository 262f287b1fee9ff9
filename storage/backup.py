"""Backups that stay safe: a consistent snapshot taken while the service runs, sealed by
construction (it copies sealed values and sealed files, never the data key), and its
restore, which first checks that the data key opens it.

- SQLite: one tar file holding `lapor.db`, a snapshot by SQLite's backup API (a consistent
  copy while writers go on), and `evidence/`, the evidence files as stored (sealed, under
  their keyed names), copied after the snapshot (a file erased meanwhile is not in it).
- PostgreSQL: `pg_dump --format=custom`, consistent by its own snapshot; the evidence is
  in the database, so in the dump.
"""

from __future__ import annotations

import asyncio
import glob
import io
import os
import shutil
import sqlite3
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from storage.at_rest import SELECT_KEYS, key_rows
from storage.database import Database, is_postgres_url
from storage.evidence_files import FileBlobs
from storage.sealing import Keyring, KeyRow, KeySource, Tampered, WrongKey

DATABASE_MEMBER = "lapor.db"
EVIDENCE_MEMBER = "evidence"
PG_MAGIC = b"PGDMP"


class BackupProblem(Exception):
    """A backup or a restore that cannot be done; `problem` names which (the shell words it)."""

    def __init__(self, problem: str, detail: str = "") -> None:
        super().__init__(f"{problem}: {detail}" if detail else problem)
        self.problem = problem
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Written:
    path: Path
    size: int
    files: int
    """Evidence files in it (SQLite's; PostgreSQL's are rows of the dump)."""


def kind_of(path: Path) -> str:
    """"sqlite" (our tar), "postgresql" (a custom-format dump), or "unknown"."""
    with path.open("rb") as handle:
        start = handle.read(512)
    if start.startswith(PG_MAGIC):
        return "postgresql"
    return "sqlite" if tarfile.is_tarfile(path) else "unknown"


# --- backing up -----------------------------------------------------------------------------

async def backup(db: Database, evidence: Path, out: Path) -> Written:
    """Write the backup to `out` (mode 0600, whole or not at all)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.part")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    try:
        if is_postgres_url(db.url):
            files = 0
            await _pg_dump(db.url, partial)
        else:
            files = await _sqlite_backup(Path(db.url), evidence, partial)
        os.chmod(partial, 0o600)
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return Written(out, out.stat().st_size, files)


async def _sqlite_backup(path: Path, evidence: Path, out: Path) -> int:
    with tempfile.TemporaryDirectory(prefix="lapor-backup-") as scratch:
        snapshot = Path(scratch) / DATABASE_MEMBER

        def copy() -> None:
            source = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
            target = sqlite3.connect(snapshot)
            try:
                source.backup(target)  # all pages in one step: one consistent read
            finally:
                target.close()
                source.close()
        await asyncio.to_thread(copy)
        blobs = FileBlobs(evidence)
        names = [name async for name, _size in blobs.listing()]

        def pack() -> int:
            count = 0
            with tarfile.open(out, "w") as tar:
                tar.add(snapshot, DATABASE_MEMBER)
                for name in names:
                    try:
                        tar.add(blobs.path_for(name), f"{EVIDENCE_MEMBER}/{name[:2]}/{name}")
                        count += 1
                    except FileNotFoundError:  # erased since the snapshot: rightly not in the backup
                        continue
            return count
        return await asyncio.to_thread(pack)


def pg_tool(name: str) -> str:
    """`pg_dump` or `pg_restore`: on the PATH, else the newest Debian/Ubuntu install."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if not candidates:
        raise BackupProblem("no_pg_tool", name)
    return candidates[-1]


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password (a password on a command line is seen by every user of
    the machine), and the environment that carries it instead."""
    parts = urlsplit(url)
    env = dict(os.environ)
    if parts.password:
        env["PGPASSWORD"] = parts.password
        host = parts.hostname or ""
        netloc = f"{parts.username}@{host}" if parts.username else host
        if parts.port:
            netloc += f":{parts.port}"
        url = urlunsplit(parts._replace(netloc=netloc))
    return url, env


async def _run(*command: str, env: dict[str, str], stdout: int | None = None) -> bytes:
    process = await asyncio.create_subprocess_exec(*command, env=env, stdout=stdout or asyncio.subprocess.DEVNULL,
                                                   stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    if process.returncode != 0:
        last = (err or b"").decode(errors="replace").strip().splitlines()
        raise BackupProblem("pg_tool_failed", f"{Path(command[0]).name}: {last[-1][:200] if last else process.returncode}")
    return out or b""


async def _pg_dump(url: str, out: Path) -> None:
    bare, env = _libpq(url)
    await _run(pg_tool("pg_dump"), "--format=custom", "--compress=0", "--no-owner", "--no-privileges", f"--file={out}",
               f"--dbname={bare}", env=env)


# --- restoring ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Restored:
    kind: str
    files: int
    key_id: str


async def restore(backup_file: Path, target: str | Path, evidence: Path, key: KeySource, force: bool = False) -> Restored:
    """Put a backup back at `target` (the SQLite file and the evidence folder, or a
    PostgreSQL database). The data key must open it, and a target that already holds cases
    is replaced only with `force`. The service must not run on the target meanwhile."""
    kind = kind_of(backup_file)
    wanted = "postgresql" if is_postgres_url(target) else "sqlite"
    if kind == "unknown":
        raise BackupProblem("not_a_backup")
    if kind != wanted:
        raise BackupProblem("other_backend", kind)
    data_key = key.read()
    if data_key is None:
        raise WrongKey("missing", key.setting, what="backup")
    if kind == "sqlite":
        return await _restore_sqlite(backup_file, Path(target), evidence, key, Keyring(data_key), force)
    return await _restore_postgres(backup_file, str(target), key, Keyring(data_key), force)


def _check(keys: Keyring, rows: list[KeyRow], key: KeySource) -> None:
    if not rows:
        return  # a backup from before sealing: the key seals it when it is opened
    try:
        keys.load(rows)
    except WrongKey:
        raise WrongKey("mismatch", key.setting, what="backup") from None
    except Tampered:
        raise WrongKey("changed", key.setting, what="backup") from None


async def _holds_cases(target: str | Path) -> bool:
    if is_postgres_url(target):
        import asyncpg

        conn = await asyncpg.connect(str(target), timeout=10)
        try:
            if not await conn.fetchval("SELECT to_regclass('cases') IS NOT NULL"):
                return False
            return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM cases)"))
        finally:
            await conn.close()
    path = Path(target)
    if not path.exists():
        return False

    def read() -> bool:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'cases'").fetchone():
                return False
            return bool(conn.execute("SELECT EXISTS (SELECT 1 FROM cases)").fetchone()[0] == 1)
        finally:
            conn.close()
    return await asyncio.to_thread(read)


async def _restore_sqlite(backup_file: Path, path: Path, evidence: Path, key: KeySource, keys: Keyring,
                          force: bool) -> Restored:
    if not force and await _holds_cases(path):
        raise BackupProblem("target_not_empty", str(path))

    def unpack() -> int:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".lapor-restore-", dir=path.parent) as scratch:
            copy = Path(scratch) / DATABASE_MEMBER
            files = 0
            with tarfile.open(backup_file, "r") as tar:
                member = tar.getmember(DATABASE_MEMBER)
                source = tar.extractfile(member)
                if source is None:
                    raise BackupProblem("not_a_backup")
                with source, copy.open("wb") as handle:
                    shutil.copyfileobj(source, handle)
                conn = sqlite3.connect(copy)
                try:
                    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'keyring'")
                    rows = key_rows(conn.execute(SELECT_KEYS).fetchall()) if exists.fetchone() else []
                finally:
                    conn.close()
                _check(keys, rows, key)
                for entry in tar:
                    parts = Path(entry.name).parts
                    if not entry.isfile() or len(parts) != 3 or parts[0] != EVIDENCE_MEMBER or parts[1] != parts[2][:2] \
                            or "." in parts[2] or "/" in parts[2]:
                        continue
                    target = evidence / parts[1] / parts[2]
                    if target.exists():
                        files += 1
                        continue
                    data = tar.extractfile(entry)
                    if data is None:
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    partial = target.with_name(target.name + ".part")
                    with data, partial.open("wb") as handle:
                        shutil.copyfileobj(data, handle)
                    os.replace(partial, target)
                    files += 1
            for stale in (Path(f"{path}-wal"), Path(f"{path}-shm")):
                stale.unlink(missing_ok=True)
            os.chmod(copy, 0o600)
            os.replace(copy, path)
        return files
    files = await asyncio.to_thread(unpack)
    return Restored("sqlite", files, keys.data_key.id)


async def _restore_postgres(backup_file: Path, url: str, key: KeySource, keys: Keyring, force: bool) -> Restored:
    restore_tool = pg_tool("pg_restore")
    bare, env = _libpq(url)
    listing = await _run(restore_tool, "--data-only", "--table=keyring", "--file=-", str(backup_file), env=env,
                         stdout=asyncio.subprocess.PIPE)
    _check(keys, _copied_key_rows(listing), key)
    if not force and await _holds_cases(url):
        raise BackupProblem("target_not_empty", "")
    await _run(restore_tool, "--clean", "--if-exists", "--no-owner", "--no-privileges", "--exit-on-error",
               f"--dbname={bare}", str(backup_file), env=env)
    return Restored("postgresql", 0, keys.data_key.id)


def _copied_key_rows(script: bytes) -> list[KeyRow]:
    """The keyring's rows from `pg_restore --data-only --table=keyring`'s COPY text."""
    rows: list[KeyRow] = []
    copying = False
    for line in io.StringIO(script.decode()):
        line = line.rstrip("\n")
        if line.startswith("COPY ") and "keyring" in line:
            columns = line[line.index("(") + 1:line.index(")")].replace(" ", "").split(",")
            copying = True
            continue
        if copying:
            if line == "\\.":
                break
            values = dict(zip(columns, line.split("\t")))
            wrapped = bytes.fromhex(values["wrapped"].removeprefix("\\\\x"))
            rows.append(KeyRow(values["id"], values["kek"], values["purpose"], wrapped, values["active"] == "1",
                               values["created_at"]))
    return rows
