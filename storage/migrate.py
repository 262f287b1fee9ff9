"""Moving an installation from its SQLite file (and evidence directory) to PostgreSQL.

Every table of the SQLite schema is copied, parents before children, each row upserted
by its primary key, so a second run changes nothing (and a run after the service wrote
more brings the copy up to date). Identity sequences are moved past the copied ids. Values
stay sealed as they are: the keyring is a table like the others, so the same data key opens
the copy (the target's own keys are never made). Then every evidence file is copied once,
still sealed, under its keyed name. The check at the end compares row counts table by
table and opens every evidence file from PostgreSQL to hash its plain bytes again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from storage import at_rest
from storage.database import Database
from storage.evidence_files import EvidenceStore, FileBlobs
from storage.sealing import KeySource, Tampered

BATCH = 1000
DERIVED = ("case_counts",)
"""Tables kept by triggers from other tables (the daily counts, from `cases`): copied last,
so that the copy's values replace what the triggers counted while the cases went in."""


@dataclass
class Report:
    tables: dict[str, tuple[int, int]] = field(default_factory=dict)
    """table -> (rows in SQLite, rows in PostgreSQL)"""
    files: int = 0
    files_copied: int = 0
    bad_files: list[str] = field(default_factory=list)
    """Evidence files that do not open, or whose bytes do not hash to what their name says
    (in the source, or once copied)."""
    missing_files: list[str] = field(default_factory=list)
    """SHA-256s the evidence table names that neither store has."""

    @property
    def ok(self) -> bool:
        return not self.bad_files and all(a == b for a, b in self.tables.values())

    def lines(self) -> list[str]:
        out = [f"{'table':<20} {'sqlite':>9} {'postgresql':>11}"]
        for table, (a, b) in self.tables.items():
            out.append(f"{table:<20} {a:>9} {b:>11}" + ("" if a == b else "   MISMATCH"))
        out.append(f"evidence files: {self.files} ({self.files_copied} copied now), "
                   f"{len(self.bad_files)} failing their SHA-256")
        if self.missing_files:
            out.append(f"evidence named by cases but never received (also absent before): {len(self.missing_files)}")
        out.append("OK" if self.ok else "FAILED")
        return out


async def _tables(source: Database) -> list[tuple[str, list[str], list[str]]]:
    """(table, columns, primary key columns), parents before the tables that refer to them."""
    async with source.reading() as tx:
        names = [r[0] for r in await tx.execute_fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        info: dict[str, tuple[list[str], list[str], set[str]]] = {}
        for name in names:
            columns = await tx.execute_fetchall(f"PRAGMA table_info({name})")
            keys = sorted((c[5], c[1]) for c in columns if c[5])
            parents = {r[2] for r in await tx.execute_fetchall(f"PRAGMA foreign_key_list({name})")} - {name}
            info[name] = ([c[1] for c in columns], [k for _n, k in keys], parents)
    ordered: list[str] = []
    while len(ordered) < len(info):
        ready = [n for n in names if n not in ordered and info[n][2] <= set(ordered)]
        if not ready:
            raise RuntimeError("foreign keys form a cycle")
        ordered += ready
    ordered = [n for n in ordered if n not in DERIVED] + [n for n in ordered if n in DERIVED]
    return [(n, info[n][0], info[n][1]) for n in ordered]


def _converter(data_type: str) -> Callable[[Any], Any]:
    """SQLite stores what it is given; PostgreSQL (asyncpg) wants each column's own type."""
    if data_type in ("bigint", "integer", "smallint"):
        return lambda v: None if v is None else int(v)
    if data_type in ("double precision", "real", "numeric"):
        return lambda v: None if v is None else float(v)
    if data_type == "bytea":
        return lambda v: None if v is None else v.encode() if isinstance(v, str) else bytes(v)
    return lambda v: None if v is None else (v if isinstance(v, str) else str(v))


class ForeignTarget(Exception):
    """The target already holds cases (or keys) of another installation: copying would
    overwrite them."""

    def __init__(self, count: int) -> None:
        super().__init__(f"the target database holds {count} cases that are not in this SQLite file; "
                         "refusing to overwrite another installation (use an empty database)")
        self.count = count


async def _check_target(source: Database, target: Database) -> None:
    async with source.reading() as tx:
        ours = {(int(r[0]), str(r[1])) for r in await tx.execute_fetchall("SELECT id, number FROM cases")}
        our_keys = {(str(r[0]), str(r[1])) for r in await tx.execute_fetchall("SELECT id, kek FROM keyring")}
    async with target.reading() as tx:
        theirs = {(int(r[0]), str(r[1])) for r in await tx.execute_fetchall("SELECT id, number FROM cases")}
        their_keys = {(str(r[0]), str(r[1])) for r in await tx.execute_fetchall("SELECT id, kek FROM keyring")}
    foreign = theirs - ours
    if foreign or their_keys - our_keys:
        raise ForeignTarget(len(foreign))


async def copy_rows(source: Database, target: Database, progress: Callable[[str], None] = lambda _line: None) -> None:
    await _check_target(source, target)
    tables = await _tables(source)
    async with target.transaction() as tx:  # all or nothing
        types = {(r[0], r[1]): str(r[2]) for r in await tx.execute_fetchall(
            "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'public'")}
        for table, columns, keys in tables:
            missing = [c for c in columns if (table, c) not in types]
            if missing:
                raise RuntimeError(f"PostgreSQL has no {table}.{missing}: is its migration twin missing?")
            convert = [_converter(types[(table, c)]) for c in columns]
            updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in keys)
            sql = (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
                   f" ON CONFLICT ({', '.join(keys)}) DO " + (f"UPDATE SET {updates}" if updates else "NOTHING"))
            order = ", ".join(keys) if keys else "rowid"
            copied = 0
            async with source.reading() as read:
                offset = 0
                while True:
                    rows = await read.execute_fetchall(
                        f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order} LIMIT ? OFFSET ?", (BATCH, offset))
                    if not rows:
                        break
                    await tx.executemany(sql, [[f(v) for f, v in zip(convert, row)] for row in rows])
                    copied += len(rows)
                    offset += BATCH
            progress(f"{table}: {copied} rows")
        for table, columns, _keys in tables:  # new rows must not reuse a copied id
            if "id" in columns and await tx.execute_fetchall(
                    "SELECT 1 FROM information_schema.columns WHERE table_schema = 'public' AND table_name = ?"
                    " AND column_name = 'id' AND is_identity = 'YES'", (table,)):
                await tx.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                                 f" coalesce((SELECT max(id) FROM {table}), 0) + 1, false)")


async def _opens(store: EvidenceStore, name: str, size: int | None = None) -> bool:
    """Whether the stored file `name` opens and its plain bytes hash to what its name says."""
    sha = store.sha_of(name)
    if sha is None:
        return False
    digest = hashlib.sha256()
    stored = 0
    try:
        async for chunk in store.blobs.chunks(name):
            stored += len(chunk)
        async for chunk in store.stream(sha):
            digest.update(chunk)
    except Tampered:
        return False
    return digest.hexdigest() == sha and (size is None or stored == size)


async def copy_evidence(source: Database, source_dir: Path, target: Database, report: Report) -> None:
    """Each file copied as it is stored (sealed), once; a file that does not open in the
    source is reported and not copied."""
    files = FileBlobs(source_dir)
    mine = EvidenceStore.for_database(source, source_dir)
    blobs = target.blobs(source_dir)
    async for name, size in files.listing():
        report.files += 1
        if await blobs.exists(name):
            continue
        if not await _opens(mine, name, size):
            report.bad_files.append(f"{name} (in {source_dir})")
            continue
        writer = blobs.writer()
        try:
            async for chunk in files.chunks(name):
                await writer.write(chunk)
            await writer.commit(name, size)
        except BaseException:
            await writer.abort()
            raise
        report.files_copied += 1


async def verify(source: Database, source_dir: Path, target: Database, report: Report) -> None:
    for table, _columns, _keys in await _tables(source):
        async with source.reading() as tx:
            a = (await tx.execute_fetchall(f"SELECT count(*) FROM {table}"))[0][0]
        async with target.reading() as tx:
            b = (await tx.execute_fetchall(f"SELECT count(*) FROM {table}"))[0][0]
        report.tables[table] = (int(a), int(b))
    store = EvidenceStore.for_database(target, source_dir)
    broken = {entry.split()[0] for entry in report.bad_files}
    async for name, size in FileBlobs(source_dir).listing():
        if name in broken:  # already reported: it was not copied
            continue
        if not await _opens(store, name, size):
            report.bad_files.append(f"{name} (in PostgreSQL)")
    async with source.reading() as tx:
        named = {r[0] for r in await tx.execute_fetchall("SELECT DISTINCT sha256 FROM evidence WHERE sha256 IS NOT NULL")}
    for sha in sorted(named):
        if not await store.exists(sha):
            report.missing_files.append(sha)


async def migrate(source_path: Path, evidence_dir: Path, url: str, key: KeySource,
                  progress: Callable[[str], None] = lambda _line: None) -> Report:
    """`key`: the data key of the SQLite installation, which opens the copy too."""
    source = await Database.open(source_path, key=key, evidence=evidence_dir, checkpoint_every=None)
    try:
        target = await Database.open(url, key=key, create_keys=False)
    except BaseException:
        await source.close()
        raise
    report = Report()
    try:
        await copy_rows(source, target, progress)
        await at_rest.reload(target)
        await copy_evidence(source, evidence_dir, target, report)
        await verify(source, evidence_dir, target, report)
    finally:
        await target.close()
        await source.close()
    return report
