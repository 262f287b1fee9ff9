"""A content-addressed store for evidence bytes: each file is named by its SHA-256.

Files arrive whole or not at all: bytes are streamed to a temporary file in the store
(hashed as they come, the size cap enforced while reading) and renamed into place only
when complete. A file just stored is *held* until the update that brought it has been
recorded, so that deleting an unreferenced file never races with a step about to refer to
it. After an erasure only a file's cleaned copy stays (stored under its own SHA-256 and
linked from the original's by `cleaning.stored`); the original's SHA-256 stays on record.
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
from pathlib import Path

TMP_DIR = "tmp"
WRITE_CHUNK = 256 * 1024


class TooLarge(Exception):
    """The file is over the size cap; nothing of it was kept."""


@dataclass(frozen=True, slots=True)
class StoredFile:
    sha256: str
    size: int
    path: Path


class Incoming:
    """A file being received: `write` chunks, then `finish` (see `EvidenceStore.receive`)."""

    def __init__(self, store: EvidenceStore, max_bytes: int | None) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self.size = 0
        self._hash = hashlib.sha256()
        self._buffer = bytearray()
        self.path = store.root / TMP_DIR / f"{uuid.uuid4().hex}.part"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("wb")

    async def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.max_bytes is not None and self.size > self.max_bytes:
            raise TooLarge()
        self._hash.update(chunk)
        self._buffer += chunk
        if len(self._buffer) >= WRITE_CHUNK:
            await self._flush()

    async def _flush(self) -> None:
        data, self._buffer = bytes(self._buffer), bytearray()
        await asyncio.to_thread(self._file.write, data)

    async def finish(self) -> StoredFile:
        await self._flush()
        await asyncio.to_thread(self._finish_sync)
        return self.store._settle(self.path, self._hash.hexdigest(), self.size)

    def _finish_sync(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()

    def abandon(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


class EvidenceStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._held: Counter[str] = Counter()

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    @contextlib.asynccontextmanager
    async def receive(self, max_bytes: int | None = None) -> AsyncIterator[Incoming]:
        """Stream a file in: `async with store.receive(cap) as incoming: await incoming.write(..)`,
        then `await incoming.finish()`. Anything else (an error, `TooLarge`, a file not
        finished) leaves nothing behind."""
        incoming = Incoming(self, max_bytes)
        try:
            yield incoming
        finally:
            if incoming.path.exists():
                await asyncio.to_thread(incoming.abandon)

    async def put(self, data: bytes) -> StoredFile:
        """Write the bytes once (atomically); a second identical file costs nothing."""
        async with self.receive() as incoming:
            await incoming.write(data)
            return await incoming.finish()

    async def put_file(self, source: Path) -> StoredFile:
        async with self.receive() as incoming:
            with source.open("rb") as handle:
                while chunk := await asyncio.to_thread(handle.read, WRITE_CHUNK):
                    await incoming.write(chunk)
            return await incoming.finish()

    def _settle(self, tmp: Path, sha: str, size: int) -> StoredFile:
        """Rename into place and hold the file, in one step on the event loop, so that a
        `discard` of the same SHA-256 cannot slip in between."""
        target = self.path_for(sha)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            tmp.unlink(missing_ok=True)
            os.utime(target)  # fresh again for the orphan sweep's grace period
        else:
            os.replace(tmp, target)
        self._held[sha] += 1
        return StoredFile(sha, size, target)

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
        erased case keeps only its cleaned copy, found through `cleaning.stored`)."""
        try:
            return await asyncio.to_thread(self.path_for(sha256).read_bytes)
        except FileNotFoundError:
            return None

    @staticmethod
    def sha256_of(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    def discard_original(self, sha256: str) -> None:
        """The original goes; only its cleaned copy (stored under its own SHA-256) stays."""
        self.path_for(sha256).unlink(missing_ok=True)

    def discard(self, shas: Iterable[str]) -> int:
        """Delete these files (the caller knows nothing refers to them), except those still
        held by an update in flight. Returns how many went."""
        gone = 0
        for sha in set(shas):
            if not sha or self.held(sha):
                continue
            path = self.path_for(sha)
            if path.exists():
                path.unlink(missing_ok=True)
                gone += 1
        return gone

    async def sweep(self, referenced: Callable[[list[str]], Awaitable[set[str]]], cutoff: float,
                    chunk: int = 500) -> int:
        """Delete files last written before `cutoff` (a timestamp) that nothing refers to
        (`referenced` says which of a list of SHA-256s something does), and temporary files
        left by a crash."""
        candidates = await asyncio.to_thread(self._older_than, cutoff)
        gone = 0
        tmp = [p for p in candidates if p.parent.name == TMP_DIR]
        for path in tmp:
            path.unlink(missing_ok=True)
            gone += 1
        stored = [p for p in candidates if p.parent.name != TMP_DIR]
        for start in range(0, len(stored), chunk):
            batch = stored[start:start + chunk]
            keys = [p.name.split(".")[0] for p in batch]
            keep = await referenced(sorted(set(keys)))
            for path, sha in zip(batch, keys, strict=True):
                if sha not in keep and not self.held(sha) and path.stat().st_mtime < cutoff:
                    path.unlink(missing_ok=True)
                    gone += 1
        return gone

    def _older_than(self, cutoff: float) -> list[Path]:
        found = []
        if not self.root.exists():
            return found
        for folder in os.scandir(self.root):
            if not folder.is_dir():
                continue
            for entry in os.scandir(folder.path):
                if entry.is_file() and entry.stat().st_mtime < cutoff:
                    found.append(Path(entry.path))
        return found
