"""The cleaned copy of a stored evidence file, computed once and found again.

The first caller (usually the Telegram sender, when the case goes to its group) cleans the
original and puts the copy in the evidence store under the copy's own SHA-256; the
`cleaned_files` table links the original's SHA-256 (the one on the evidence row) to it, or
records why the file cannot be made safe. Later callers (the next group, `/lihat`, issue 12's
erasure, which keeps only the copy, issue 16's PDF case file) read the same copy.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from cleaning import VERSION, Cleaned, Unsafe, clean_async
from storage import Database, cleaned_files
from storage.cleaned_files import CleanedFile
from storage.evidence_files import EvidenceStore

_cleaning: dict[tuple[int, str], asyncio.Future[Cleaned | Unsafe]] = {}
"""Files being cleaned in this process now, per database: a second caller (another officer
of the same roster, another group) waits for the same result instead of cleaning the file
again. Keyed by the database too, so that two installations open in one process (a test, a
migration) each record their own copy."""


async def cleaned_copy(db: Database, store: EvidenceStore, sha256: str | None, mime: str | None) -> Cleaned | Unsafe:
    """The safe copy of the stored file `sha256`, or why there is none ("missing" when we
    never held its bytes)."""
    if not sha256:
        return Unsafe("missing")
    key = (id(db), sha256)
    loop = asyncio.get_running_loop()
    while (running := _cleaning.get(key)) is not None and running.get_loop() is loop:
        await asyncio.wait([running])  # raises only if this caller is cancelled
        if not running.cancelled():
            return running.result()
    future: asyncio.Future[Cleaned | Unsafe] = loop.create_future()
    _cleaning[key] = future
    try:
        result = await _cleaned_copy(db, store, sha256, mime)
    except BaseException as exc:
        if isinstance(exc, asyncio.CancelledError):
            future.cancel()  # the ones waiting try again themselves
        else:
            future.set_exception(exc)
            future.exception()  # retrieved: nobody else may be waiting
        raise
    else:
        future.set_result(result)
        return result
    finally:
        if _cleaning.get(key) is future:
            del _cleaning[key]


async def _cleaned_copy(db: Database, store: EvidenceStore, sha256: str, mime: str | None) -> Cleaned | Unsafe:
    async with db.reading() as tx:
        known = await cleaned_files.get(tx, sha256)
    if known is not None and known.version == VERSION:
        if known.clean_sha256 is None:
            return Unsafe(known.unsafe_reason or "unsupported")
        data = await store.get(known.clean_sha256)
        if data is not None:
            return Cleaned(data, known.mime or "application/octet-stream", known.extension or "",
                           known.width, known.height, known.duration)
    original = await store.get(sha256)
    if original is None:
        if known is not None and known.clean_sha256:  # an erased case keeps only its copy
            data = await store.get(known.clean_sha256)
            if data is not None:
                return Cleaned(data, known.mime or "application/octet-stream", known.extension or "",
                               known.width, known.height, known.duration)
        return Unsafe("missing")
    result = await clean_async(original, mime)
    at = datetime.now(UTC).isoformat()
    copy = await store.put(result.data) if isinstance(result, Cleaned) else None  # before: no file I/O in a transaction
    try:
        async with db.transaction() as tx:
            if copy is None or isinstance(result, Unsafe):
                assert isinstance(result, Unsafe)
                await cleaned_files.put(tx, CleanedFile(sha256, VERSION, None, None, None, None, None,
                                                        result.reason, at))
                return result
            for source in {sha256, copy.sha256}:
                await cleaned_files.put(tx, CleanedFile(source, VERSION, copy.sha256, result.mime, result.extension,
                                                        result.width, result.height, None, at, result.duration))
    finally:
        if copy is not None:
            store.release([copy.sha256])  # linked now: the orphan sweep leaves it alone
    return result
