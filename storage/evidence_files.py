"""A content-addressed store for evidence bytes: each file is found by its SHA-256.

`EvidenceStore` is what the channels use (receive, put, get, stream, discard, sweep); where
the bytes live is a `Blobs` backend behind it: files under `EVIDENCE_DIR` with SQLite, or
chunks in PostgreSQL (`evidence_chunks`, `evidence_blobs`), so that every worker reaches
every file with no shared disk. Every file is sealed as it streams in and opened as it
streams out (`storage/sealing.py`: its own key, 64 KiB segments), and stored under a keyed
name of its SHA-256, so the store reveals neither a file's bytes nor its hash without the
key; the callers see SHA-256s and plain bytes only.

Files arrive whole or not at all: bytes are streamed to a temporary file (or unnamed chunks)
in the store, hashed as they come, the size cap enforced while reading, and named only when
complete, so a writer that dies leaves no half file under a real name. A file just stored
is *held* until the update that brought it has been recorded, so that deleting an
unreferenced file never races with a step about to refer to it. After an erasure only a
file's cleaned copy stays (stored under its own SHA-256 and linked from the original's by
`cleaning.stored`); the original's SHA-256 stays on record.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from storage.database import Blobs, Database
from storage.sealing import FileOpener, FileSealer, Keyring

CHUNK_BYTES = 512 * 1024
WRITE_CHUNK = 256 * 1024
TMP_DIR = "tmp"


class TooLarge(Exception):
    """The file is over the size cap; nothing of it was kept."""


@dataclass(frozen=True, slots=True)
class StoredFile:
    sha256: str
    size: int
    path: Path | None = None
    """Only for files on disk."""


class Incoming:
    """A file being received: `write` chunks, then `finish` (see `EvidenceStore.receive`)."""

    def __init__(self, store: EvidenceStore, max_bytes: int | None) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self.size = 0
        self.stored = 0
        self._hash = hashlib.sha256()
        self._buffer = bytearray()
        self._writer = store.blobs.writer()
        self._sealer: FileSealer | None = store.keys.file_writer() if store.keys is not None else None
        self.finished = False

    async def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.max_bytes is not None and self.size > self.max_bytes:
            raise TooLarge()
        self._hash.update(chunk)
        self._buffer += chunk
        if len(self._buffer) >= WRITE_CHUNK:
            await self._flush()

    async def _flush(self, final: bool = False) -> None:
        data, self._buffer = bytes(self._buffer), bytearray()
        if self._sealer is not None:
            data = self._sealer.feed(data) + (self._sealer.finish() if final else b"")
        if data:
            self.stored += len(data)
            await self._writer.write(data)

    async def finish(self) -> StoredFile:
        await self._flush(final=True)
        sha = self._hash.hexdigest()
        self.store._held[sha] += 1  # held before it is named: a discard cannot slip in between
        try:
            await self._writer.commit(self.store.name(sha), self.stored)
        except BaseException:
            self.store.release([sha])
            raise
        self.finished = True
        return StoredFile(sha, self.size, self.store._path(sha))

    async def abandon(self) -> None:
        await self._writer.abort()


class EvidenceStore:
    def __init__(self, blobs: Blobs | Path, keys: Keyring | None = None) -> None:
        """`keys`: what files are sealed with, and named by. Without (tests and benchmarks
        of downloads alone), files are stored as they come, under their SHA-256; the service
        always opens its store with `for_database`."""
        self.blobs: Blobs = FileBlobs(blobs) if isinstance(blobs, Path) else blobs
        self.keys = keys
        self._held: Counter[str] = Counter()

    @classmethod
    def for_database(cls, db: Database, root: Path) -> EvidenceStore:
        """Where `db` keeps evidence: in the database when it is shared by workers
        (PostgreSQL), else files under `root`; sealed with the database's keys."""
        return cls(db.blobs(root), db.keys)

    def name(self, sha256: str) -> str:
        """The name a file is stored under: a keyed name of its SHA-256 (`sealing.file_name`)."""
        return self.keys.file_name(sha256) if self.keys is not None else sha256

    def sha_of(self, name: str) -> str | None:
        """The SHA-256 a stored name stands for (None: not a name of this store's keys)."""
        if self.keys is None:
            return name if len(name) == 64 else None
        return self.keys.sha_of_name(name)

    def _opener(self) -> FileOpener | None:
        return self.keys.file_reader() if self.keys is not None else None

    @property
    def root(self) -> Path:
        assert isinstance(self.blobs, FileBlobs), "files live in the database"
        return self.blobs.root

    @contextlib.asynccontextmanager
    async def receive(self, max_bytes: int | None = None) -> AsyncIterator[Incoming]:
        """Stream a file in: `async with store.receive(cap) as incoming: await incoming.write(..)`,
        then `await incoming.finish()`. Anything else (an error, `TooLarge`, a file not
        finished) leaves nothing behind."""
        incoming = Incoming(self, max_bytes)
        try:
            yield incoming
        finally:
            if not incoming.finished:
                await asyncio.shield(incoming.abandon())

    async def put(self, data: bytes) -> StoredFile:
        """Write the bytes once; a second identical file costs nothing. The file is held
        until `release`."""
        async with self.receive() as incoming:
            for start in range(0, len(data), WRITE_CHUNK):
                await incoming.write(data[start:start + WRITE_CHUNK])
            return await incoming.finish()

    async def put_file(self, source: Path) -> StoredFile:
        async with self.receive() as incoming:
            with source.open("rb") as handle:
                while chunk := await asyncio.to_thread(handle.read, WRITE_CHUNK):
                    await incoming.write(chunk)
            return await incoming.finish()

    def release(self, shas: Iterable[str | None]) -> None:
        """The update that brought these files has been recorded (or has failed)."""
        for sha in shas:
            if sha and self._held[sha] > 0:
                self._held[sha] -= 1
                if not self._held[sha]:
                    del self._held[sha]

    def held(self, sha: str) -> bool:
        return self._held[sha] > 0

    async def get(self, sha256: str) -> bytes | None:
        """The stored bytes, or None if this file was never received here or is gone (an
        erased case keeps only its cleaned copy, found through `cleaning.stored`). A file
        that does not open (cut short, changed) raises `sealing.Tampered`."""
        name = self.name(sha256)
        parts = [chunk async for chunk in self._opened(name)]
        if not parts and not await self.blobs.exists(name):
            return None
        return b"".join(parts)

    def stream(self, sha256: str) -> AsyncIterator[bytes]:
        """The plain bytes in pieces (nothing if the file is not here)."""
        return self._opened(self.name(sha256))

    async def _opened(self, name: str) -> AsyncIterator[bytes]:
        opener = self._opener()
        seen = False
        async for chunk in self.blobs.chunks(name):
            seen = True
            part = opener.feed(chunk) if opener is not None else chunk
            if part:
                yield part
        if seen and opener is not None:
            tail = opener.finish()
            if tail:
                yield tail

    async def exists(self, sha256: str) -> bool:
        return await self.blobs.exists(self.name(sha256))

    async def delete(self, sha256: str) -> bool:
        return await self.blobs.delete(self.name(sha256))

    @staticmethod
    def sha256_of(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    async def discard_original(self, sha256: str) -> None:
        """The original goes; only its cleaned copy (stored under its own SHA-256) stays."""
        await self.blobs.delete(self.name(sha256))

    async def discard(self, shas: Iterable[str]) -> int:
        """Delete these files (the caller knows nothing refers to them), except those still
        held by an update in flight. Returns how many went."""
        gone = 0
        for sha in set(shas):
            if sha and not self.held(sha) and await self.blobs.delete(self.name(sha)):
                gone += 1
        return gone

    async def sweep(self, referenced: Callable[[list[str]], Awaitable[set[str]]], cutoff: float,
                    chunk: int = 500) -> int:
        """Delete files last written before `cutoff` (a timestamp) that nothing refers to
        (`referenced` says which of a list of SHA-256s something does), and what writers
        left by a crash."""
        before = datetime.fromtimestamp(cutoff, UTC)
        gone = await self.blobs.sweep_incomplete(before)
        stale = sorted({sha for name in await self.blobs.written_before(before) if (sha := self.sha_of(name))})
        for start in range(0, len(stale), chunk):
            batch = stale[start:start + chunk]
            keep = await referenced(batch)
            for sha in batch:
                if sha not in keep and not self.held(sha) \
                        and await self.blobs.delete(self.name(sha), written_before=before):
                    gone += 1
        return gone

    def _path(self, sha256: str) -> Path | None:
        return self.blobs.path_for(self.name(sha256)) if isinstance(self.blobs, FileBlobs) else None

    def path_for(self, sha256: str) -> Path:
        """Where a file's sealed bytes are on disk (SQLite's store)."""
        assert isinstance(self.blobs, FileBlobs), "files live in the database"
        return self.blobs.path_for(self.name(sha256))


class FileBlobs:
    """Files under a directory, `<name[:2]>/<name>`, written under `tmp/` first."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, name: str) -> Path:
        return self.root / name[:2] / name

    async def exists(self, name: str) -> bool:
        return await asyncio.to_thread(self.path_for(name).exists)

    def writer(self) -> _FileWriter:
        return _FileWriter(self)

    async def chunks(self, name: str) -> AsyncIterator[bytes]:
        try:
            handle = await asyncio.to_thread(self.path_for(name).open, "rb")
        except FileNotFoundError:
            return
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
                yield chunk
        finally:
            handle.close()

    async def head(self, name: str, size: int) -> bytes | None:
        def read() -> bytes | None:
            try:
                with self.path_for(name).open("rb") as handle:
                    return handle.read(size)
            except FileNotFoundError:
                return None
        return await asyncio.to_thread(read)

    async def rewrite_head(self, name: str, old: bytes, new: bytes) -> bool:
        """In place, only if the file still starts with `old` (a write within one page)."""
        assert len(old) == len(new)

        def rewrite() -> bool:
            try:
                fd = os.open(self.path_for(name), os.O_RDWR)
            except FileNotFoundError:
                return False
            try:
                if os.pread(fd, len(old), 0) != old:
                    return False
                os.pwrite(fd, new, 0)
                os.fsync(fd)
                return True
            finally:
                os.close(fd)
        return await asyncio.to_thread(rewrite)

    async def delete(self, name: str, written_before: datetime | None = None) -> bool:
        path = self.path_for(name)
        try:
            if written_before is not None and path.stat().st_mtime >= written_before.timestamp():
                return False  # written again meanwhile
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    async def written_before(self, before: datetime) -> list[str]:
        cutoff = before.timestamp()

        def scan() -> list[str]:
            found: list[str] = []
            if not self.root.exists():
                return found
            for folder in os.scandir(self.root):
                if not folder.is_dir() or folder.name == TMP_DIR:
                    continue
                for entry in os.scandir(folder.path):
                    if entry.is_file() and entry.stat().st_mtime < cutoff:
                        found.append(entry.name.split(".")[0])
            return found
        return await asyncio.to_thread(scan)

    async def listing(self) -> AsyncIterator[tuple[str, int]]:
        def scan() -> list[tuple[str, int]]:
            if not self.root.exists():
                return []
            return sorted((p.name, p.stat().st_size) for p in self.root.glob("??/*")
                          if p.is_file() and p.parent.name == p.name[:2])
        for entry in await asyncio.to_thread(scan):
            yield entry

    async def sweep_incomplete(self, before: datetime) -> int:
        def sweep() -> int:
            gone = 0
            folder = self.root / TMP_DIR
            for tmp in folder.iterdir() if folder.is_dir() else []:
                if tmp.is_file() and tmp.stat().st_mtime < before.timestamp():
                    tmp.unlink(missing_ok=True)
                    gone += 1
            return gone
        return await asyncio.to_thread(sweep)


class _FileWriter:
    def __init__(self, blobs: FileBlobs) -> None:
        self.blobs = blobs
        self.tmp = blobs.root / TMP_DIR / f"{uuid.uuid4().hex}.part"
        self._file: BinaryIO | None = None

    def _handle(self) -> BinaryIO:
        if self._file is None:
            self.tmp.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.tmp.open("wb")
        return self._file

    async def write(self, chunk: bytes) -> None:
        await asyncio.to_thread(lambda: self._handle().write(chunk))

    async def commit(self, name: str, size: int) -> None:
        def named() -> None:
            handle = self._handle()
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            target = self.blobs.path_for(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                self.tmp.unlink(missing_ok=True)
                os.utime(target)  # fresh again for the orphan sweep's grace period
            else:
                os.replace(self.tmp, target)
        await asyncio.to_thread(named)

    async def abort(self) -> None:
        def drop() -> None:
            if self._file is not None:
                self._file.close()
            self.tmp.unlink(missing_ok=True)
        await asyncio.to_thread(drop)
