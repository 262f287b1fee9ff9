"""Every file a reporter sends is hostile until it has been made safe: this package is
where a file is cleaned before it leaves the service (a group, a staff chat, `/lihat`), and
what erasure keeps in place of an original.

`clean` is the one entry point. It is synchronous and CPU-bound (call it through
`clean_async` from the event loop). It never returns the input unchanged unless the format
carries nothing identifying; a file it cannot make safe is `Unsafe` and must not be forwarded.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Cleaned:
    data: bytes
    mime: str
    extension: str
    """With the dot: ".jpg"."""


@dataclass(frozen=True, slots=True)
class Unsafe:
    reason: str
    """A short machine word ("unsupported", "unparseable", "too_large"); never file content."""


def clean(data: bytes, mime: str | None) -> Cleaned | Unsafe:
    """The file rebuilt without metadata, or why it cannot be."""
    from bot.strip_metadata import clean_image  # until the cleaners of the reporter-safety issue land

    cleaned = clean_image(data)
    if cleaned is None:
        return Unsafe("unsupported")
    body, extension = cleaned
    return Cleaned(body, {".jpg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}[extension], extension)


async def clean_async(data: bytes, mime: str | None) -> Cleaned | Unsafe:
    return await asyncio.to_thread(clean, data, mime)
