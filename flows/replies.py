"""Replies: what the flow says back. Channels decide how each looks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Option:
    id: str
    label: str
    description: str | None = None


@dataclass(frozen=True, slots=True)
class TextReply:
    text: str


@dataclass(frozen=True, slots=True)
class ChoicesReply:
    """A question with options. `token` identifies this prompt for stale-button checks;
    `request` asks a channel that can for a native contact or location button."""

    text: str
    options: tuple[Option, ...]
    token: int
    request: Literal["contact", "location"] | None = None


@dataclass(frozen=True, slots=True)
class MediaReply:
    kind: Literal["photo", "video", "document"]
    ref: str
    caption: str | None = None


Reply = TextReply | ChoicesReply | MediaReply
