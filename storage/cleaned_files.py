"""Which cleaned copy stands for which original evidence file (see `cleaning.stored`)."""

from __future__ import annotations

from dataclasses import dataclass

from storage.database import Tx, fetch_one


@dataclass(frozen=True, slots=True)
class CleanedFile:
    sha256: str
    version: int
    clean_sha256: str | None
    mime: str | None
    extension: str | None
    width: int | None
    height: int | None
    unsafe_reason: str | None
    cleaned_at: str
    duration: float | None = None


_COLUMNS = "sha256, version, clean_sha256, mime, extension, width, height, unsafe_reason, cleaned_at, duration"


async def get(tx: Tx, sha256: str) -> CleanedFile | None:
    row = await fetch_one(tx, f"SELECT {_COLUMNS} FROM cleaned_files WHERE sha256 = ?", (sha256,))
    return CleanedFile(*row) if row else None


async def put(tx: Tx, item: CleanedFile) -> None:
    await tx.execute(f"INSERT INTO cleaned_files ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                     " ON CONFLICT (sha256) DO UPDATE SET version = excluded.version,"
                     " clean_sha256 = excluded.clean_sha256, mime = excluded.mime, extension = excluded.extension,"
                     " width = excluded.width, height = excluded.height, unsafe_reason = excluded.unsafe_reason,"
                     " cleaned_at = excluded.cleaned_at, duration = excluded.duration",
                     (item.sha256, item.version, item.clean_sha256, item.mime, item.extension, item.width,
                      item.height, item.unsafe_reason, item.cleaned_at, item.duration))


async def copy_mime(tx: Tx, sha256: str) -> str | None:
    """The type of a cleaned copy, if `sha256` is one (a copy is recorded as its own clean
    copy); None for anything else, an original above all."""
    row = await fetch_one(tx, "SELECT mime FROM cleaned_files WHERE sha256 = ? AND clean_sha256 = ?", (sha256, sha256))
    return str(row[0] or "application/octet-stream") if row else None
