"""A content-addressed store for evidence bytes: each file is named by its SHA-256."""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class StoredFile:
    sha256: str
    size: int
    path: Path


class EvidenceStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    async def put(self, data: bytes) -> StoredFile:
        """Write the bytes once (atomically); a second identical file costs nothing."""
        return await asyncio.to_thread(self._put_sync, data)

    async def put_file(self, source: Path) -> StoredFile:
        data = await asyncio.to_thread(source.read_bytes)
        return await self.put(data)

    def _put_sync(self, data: bytes) -> StoredFile:
        sha = hashlib.sha256(data).hexdigest()
        target = self.path_for(sha)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)
        return StoredFile(sha, len(data), target)

    async def get(self, sha256: str) -> bytes | None:
        """The stored bytes, or None if this file was never received here."""
        path = self.path_for(sha256)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None
