"""What cleaning returns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Cleaned:
    data: bytes
    mime: str
    extension: str
    """With the dot: ".jpg"."""
    width: int | None = None
    height: int | None = None
    """Of an image, so a sender can tell whether it may go as a photo."""
    duration: float | None = None
    """Of a recording or a video, in seconds (the case file lists it)."""


@dataclass(frozen=True, slots=True)
class Unsafe:
    reason: str
    """A short machine word ("unsupported", "unparseable", "too_large", "encrypted",
    "missing"); never file content."""
