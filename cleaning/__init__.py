"""Every file a reporter sends is hostile until it has been made safe: this package is
where a file is cleaned before it leaves the service (a group, a staff chat, `/lihat`), and
what erasure keeps in place of an original.

`clean` does the work, in the calling process; the service never calls it itself but
through `clean_async`, which hands the bytes to a worker process of `cleaning.pool` with a
memory and a time limit (a decoder bomb or a crash costs that worker, never the service).
The format is read from the bytes, never from the name or the MIME type the sender
claimed. It never returns the input unchanged: every file is rebuilt (images from their
pixels, PDFs object by object, video and audio packet by packet); a file it cannot rebuild
is `Unsafe` and must not be forwarded.

`cleaning.stored.cleaned_copy` computes the result once per original (by SHA-256), keeps the
cleaned copy in the evidence store under its own SHA-256 and records the pair in the
database, so every sender, the erasure and the PDF case file use the same copy.
"""

from __future__ import annotations

from cleaning.result import Cleaned, Unsafe
from cleaning.sniff import sniff

VERSION = 1
"""Raised when a cleaner changes what it removes: stored results of older versions are redone."""

__all__ = ["VERSION", "Cleaned", "Unsafe", "clean", "clean_async"]


def clean(data: bytes, mime: str | None, *, deadline: float | None = None) -> Cleaned | Unsafe:
    """The file rebuilt without metadata, or why it cannot be. `mime` is only a hint
    (what the sender claimed); the bytes decide. `deadline` (`time.monotonic`'s clock)
    bounds the cleaners that can stop midway (PDF)."""
    family = sniff(data)
    try:
        if family == "image":
            from cleaning.images import clean_image

            return clean_image(data)
        if family == "pdf":
            from cleaning.pdf import clean_pdf

            return clean_pdf(data, deadline=deadline)
        if family == "media":
            from cleaning.media import clean_media

            return clean_media(data)
    except MemoryError:
        return Unsafe("too_large")
    return Unsafe("unsupported")


async def clean_async(data: bytes, mime: str | None) -> Cleaned | Unsafe:
    """`clean` in a worker process of the shared pool (`cleaning.pool`)."""
    from cleaning.pool import shared

    return await shared().clean(data, mime)
