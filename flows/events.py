"""Inbound events: what a reporter did, as every channel reports it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from flows.capabilities import NUMBERED, Capabilities

MediaKind = Literal["photo", "video", "document"]


@dataclass(frozen=True, slots=True)
class Text:
    text: str


@dataclass(frozen=True, slots=True)
class Choice:
    """A pressed button or a picked list item, by its stable id.

    `token` is the prompt token the choice was offered under; a channel that can tell
    (Telegram buttons) sends it so that a press on an outdated message changes nothing.
    """

    id: str
    token: int | None = None


@dataclass(frozen=True, slots=True)
class MediaItem:
    kind: MediaKind
    ref: str
    unique_ref: str | None = None
    mime: str | None = None
    size: int | None = None
    sha256: str | None = None
    file_name: str | None = None


@dataclass(frozen=True, slots=True)
class Media:
    """One or more files sent together (a Telegram album arrives as one event)."""

    items: tuple[MediaItem, ...]
    caption: str | None = None


@dataclass(frozen=True, slots=True)
class Location:
    latitude: float
    longitude: float
    address: str | None = None


@dataclass(frozen=True, slots=True)
class Contact:
    phone: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    args: str = ""


@dataclass(frozen=True, slots=True)
class Unsupported:
    """Something the flow cannot use (a sticker, a voice note, a poll)."""

    what: str


Event = Text | Choice | Media | Location | Contact | Command | Unsupported


@dataclass(frozen=True, slots=True)
class Inbound:
    """One inbound update with its envelope.

    `nonce` is the step's only source of randomness (the case number); the engine fills
    it, so the step itself stays a pure function of its inputs.
    """

    channel: str
    address: str
    update_id: str
    event: Event
    at: datetime
    locale_hint: str | None = None
    nonce: int = 0
    reply_key: str | None = None
    """Updates sharing a key (the files of one album) get one answer: the last one's."""
    caps: Capabilities = NUMBERED
    """What the channel can show; the replies are worded for it."""
    reply_extra: dict[str, object] | None = None
    """What the channel wants kept with the answer in the outbox (on Telegram: the pressed
    message, which the answer may replace, and the label picked)."""
