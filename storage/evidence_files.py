"""A content-addressed store for evidence bytes: each file is named by its SHA-256.

`EvidenceStore` is what the channels use (put, get, stream, delete); where the bytes live
is a `Blobs` backend behind it: files under `EVIDENCE_DIR` with SQLite, or chunks in
PostgreSQL (`evidence_chunks`, `evidence_blobs`), so that every worker reaches every file
with no shared disk. A writer streams chunks in and names them only when complete, so a
writer that dies leaves no half file under a real name.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from storage.database import Database

CHUNK_BYTES = 512 * 1024


@dataclass(frozen=True, slots=True)
class StoredFile:
    sha256: str
    size: int
    path: Path | None = None
    """Only for files on disk."""


class BlobWriter(Protocol):
    """Bytes written in pieces, then named by their SHA-256 (or thrown away)."""

    async def write(self, chunk: bytes) -> None: ...

    async def commit(self, sha256: str, size: int) -> None: ...

    async def abort(self) -> None: ...


class Blobs(Protocol):
    async def exists(self, sha256: str) -> bool: ...

    def writer(self) -> BlobWriter: ...

    def chunks(self, sha256: str) -> AsyncIterator[bytes]:
        """The bytes in pieces (nothing if the file is not here)."""
        ...

    async def delete(self, sha256: str) -> bool: ...

    def listing(self) -> AsyncIterator[tuple[str, int]]:
        """Every stored (sha256, size): for moving an installation and checking it."""
        ...

    async def sweep_incomplete(self, before: datetime) -> int:
        """Remove what writers that died left before `before` (never named); returns how many."""
        ...


class EvidenceStore:
    def __init__(self, blobs: Blobs | Path) -> None:
        self.blobs: Blobs = FileBlobs(blobs) if isinstance(blobs, Path) else blobs

    @classmethod
    def for_database(cls, db: Database, root: Path) -> EvidenceStore:
        """In the database when it is shared by workers (PostgreSQL), else under `root`."""
        if db.dialect.shared_counters:
            return cls(PostgresBlobs(db))
        return cls(FileBlobs(root))

    async def put(self, data: bytes) -> StoredFile:
        """Write the bytes once; a second identical file costs nothing."""
        sha = hashlib.sha256(data).hexdigest()
        if not await self.blobs.exists(sha):
            writer = self.blobs.writer()
            try:
                for start in range(0, len(data), CHUNK_BYTES):
                    await writer.write(data[start:start + CHUNK_BYTES])
                await writer.commit(sha, len(data))
            except BaseException:
                await writer.abort()
                raise
        return StoredFile(sha, len(data), self._path(sha))

    async def put_file(self, source: Path) -> StoredFile:
        data = await asyncio.to_thread(source.read_bytes)
        return await self.put(data)

    async def get(self, sha256: str) -> bytes | None:
        """The stored bytes, or None if this file was never received here."""
        parts = [chunk async for chunk in self.blobs.chunks(sha256)]
        if not parts and not await self.blobs.exists(sha256):
            return None
        return b"".join(parts)

    def stream(self, sha256: str) -> AsyncIterator[bytes]:
        return self.blobs.chunks(sha256)

    async def delete(self, sha256: str) -> bool:
        return await self.blobs.delete(sha256)

    def _path(self, sha256: str) -> Path | None:
        return self.blobs.path_for(sha256) if isinstance(self.blobs, FileBlobs) else None

    def path_for(self, sha256: str) -> Path:
        assert isinstance(self.blobs, FileBlobs), "files live in the database"
        return self.blobs.path_for(sha256)


class FileBlobs:
    """Files under a directory, `<sha[:2]>/<sha>`, written to a temporary name first."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    async def exists(self, sha256: str) -> bool:
        return await asyncio.to_thread(self.path_for(sha256).exists)

    def writer(self) -> _FileWriter:
        return _FileWriter(self)

    async def chunks(self, sha256: str) -> AsyncIterator[bytes]:
        try:
            handle = await asyncio.to_thread(self.path_for(sha256).open, "rb")
        except FileNotFoundError:
            return
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
                yield chunk
        finally:
            handle.close()

    async def delete(self, sha256: str) -> bool:
        try:
            await asyncio.to_thread(self.path_for(sha256).unlink)
        except FileNotFoundError:
            return False
        return True

    async def listing(self) -> AsyncIterator[tuple[str, int]]:
        def scan() -> list[tuple[str, int]]:
            if not self.root.exists():
                return []
            return sorted((p.name, p.stat().st_size) for p in self.root.glob("??/*")
                          if p.is_file() and len(p.name) == 64 and p.parent.name == p.name[:2])
        for entry in await asyncio.to_thread(scan):
            yield entry


    async def sweep_incomplete(self, before: datetime) -> int:
        def sweep() -> int:
            gone = 0
            for tmp in self.root.glob(".incoming-*.tmp") if self.root.exists() else []:
                if tmp.stat().st_mtime < before.timestamp():
                    tmp.unlink(missing_ok=True)
                    gone += 1
            return gone
        return await asyncio.to_thread(sweep)


class _FileWriter:
    def __init__(self, blobs: FileBlobs) -> None:
        self.blobs = blobs
        self.tmp = blobs.root / f".incoming-{os.getpid()}-{uuid.uuid4().hex}.tmp"

    async def write(self, chunk: bytes) -> None:
        def append() -> None:
            self.tmp.parent.mkdir(parents=True, exist_ok=True)
            with self.tmp.open("ab") as handle:
                handle.write(chunk)
        await asyncio.to_thread(append)

    async def commit(self, sha256: str, size: int) -> None:
        def name() -> None:
            target = self.blobs.path_for(sha256)
            if not self.tmp.exists():  # an empty file
                self.tmp.parent.mkdir(parents=True, exist_ok=True)
                self.tmp.write_bytes(b"")
            if target.exists():
                self.tmp.unlink()
                return
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.tmp, target)
        await asyncio.to_thread(name)

    async def abort(self) -> None:
        await asyncio.to_thread(self.tmp.unlink, missing_ok=True)


class PostgresBlobs:
    """Chunks in PostgreSQL: each chunk its own short insert (no transaction held open
    while a file arrives), named in `evidence_blobs` once the whole file is there."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def exists(self, sha256: str) -> bool:
        async with self.db.reading() as tx:
            rows = await tx.execute_fetchall("SELECT 1 FROM evidence_blobs WHERE sha256 = ?", (sha256,))
        return bool(rows)

    def writer(self) -> _PostgresWriter:
        return _PostgresWriter(self.db)

    async def chunks(self, sha256: str) -> AsyncIterator[bytes]:
        async with self.db.reading() as tx:
            rows = await tx.execute_fetchall(
                "SELECT b.upload, count(c.seq) FROM evidence_blobs AS b LEFT JOIN evidence_chunks AS c"
                " ON c.upload = b.upload WHERE b.sha256 = ? GROUP BY b.upload", (sha256,))
        if not rows:
            return
        upload, count = rows[0][0], int(rows[0][1])
        for seq in range(count):  # one chunk in memory at a time
            async with self.db.reading() as tx:
                part = await tx.execute_fetchall("SELECT data FROM evidence_chunks WHERE upload = ? AND seq = ?",
                                                 (upload, seq))
            if part:
                yield bytes(part[0][0])

    async def delete(self, sha256: str) -> bool:
        async with self.db.transaction() as tx:
            rows = await tx.execute_fetchall("DELETE FROM evidence_blobs WHERE sha256 = ? RETURNING upload", (sha256,))
            if rows:
                await tx.execute("DELETE FROM evidence_chunks WHERE upload = ?", (rows[0][0],))
        return bool(rows)

    async def listing(self) -> AsyncIterator[tuple[str, int]]:
        last = ""
        while True:
            async with self.db.reading() as tx:
                rows = await tx.execute_fetchall(
                    "SELECT sha256, size FROM evidence_blobs WHERE sha256 > ? ORDER BY sha256 LIMIT 1000", (last,))
            if not rows:
                return
            for row in rows:
                yield str(row[0]), int(row[1])
            last = str(rows[-1][0])


    async def sweep_incomplete(self, before: datetime) -> int:
        async with self.db.transaction(quiet=True) as tx:  # type: ignore[call-arg]
            rows = await tx.execute_fetchall(
                "WITH gone AS (DELETE FROM evidence_chunks AS c WHERE c.written_at < ? AND NOT EXISTS"
                " (SELECT 1 FROM evidence_blobs AS b WHERE b.upload = c.upload) RETURNING c.upload)"
                " SELECT count(DISTINCT upload) FROM gone", (before.astimezone(UTC).isoformat(),))
        return int(rows[0][0])


class _PostgresWriter:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.upload = uuid.uuid4()
        self.seq = 0

    async def write(self, chunk: bytes) -> None:
        for start in range(0, len(chunk), CHUNK_BYTES):
            async with self.db.transaction(quiet=True) as tx:  # type: ignore[call-arg]  # PostgreSQL's
                await tx.execute("INSERT INTO evidence_chunks (upload, seq, data, written_at) VALUES (?, ?, ?, ?)",
                                 (self.upload, self.seq, chunk[start:start + CHUNK_BYTES], _now()))
            self.seq += 1

    async def commit(self, sha256: str, size: int) -> None:
        """Name the chunks; if another worker stored the same file meanwhile, ours go."""
        async with self.db.transaction() as tx:
            async with tx.execute("INSERT OR IGNORE INTO evidence_blobs (sha256, upload, size, created_at)"
                                  " VALUES (?, ?, ?, ?)", (sha256, self.upload, size, _now())) as cur:
                named = cur.rowcount == 1
            if not named:
                await tx.execute("DELETE FROM evidence_chunks WHERE upload = ?", (self.upload,))

    async def abort(self) -> None:
        async with self.db.transaction() as tx:
            await tx.execute("DELETE FROM evidence_chunks WHERE upload = ?", (self.upload,))


def _now() -> str:
    return datetime.now(UTC).isoformat()
