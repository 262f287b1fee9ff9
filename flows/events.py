"""Inbound events: what a reporter did, as every channel reports it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from flows.capabilities import NUMBERED, Capabilities

MediaKind = Literal["photo", "video", "document", "audio"]
"""`audio`: a voice note or an audio file (a recording); a Telegram video note is a video."""
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def typed(text: str) -> str:
    """What a person typed, without the control characters a broken keyboard or a paste
    brings along (a NUL cut the text short in the database and failed the submit):
    tabs and line breaks stay, a Windows line end becomes one."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


@dataclass(frozen=True, slots=True)
class Text:
    text: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", typed(self.text))


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

    def __post_init__(self) -> None:
        if self.caption is not None:
            object.__setattr__(self, "caption", typed(self.caption))


@dataclass(frozen=True, slots=True)
class Location:
    latitude: float
    longitude: float
    address: str | None = None

    def __post_init__(self) -> None:
        if self.address is not None:
            object.__setattr__(self, "address", typed(self.address))


@dataclass(frozen=True, slots=True)
class Contact:
    phone: str
    name: str | None = None

    def __post_init__(self) -> None:
        if self.name is not None:
            object.__setattr__(self, "name", typed(self.name))


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    args: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "args", typed(self.args))


@dataclass(frozen=True, slots=True)
class Forwarded:
    """A message the reporter forwarded from elsewhere (a campaign message from an office
    group or a channel): its text or caption, and where and when it was first sent, as the
    channel gives them. `origin` is None when the channel does not say, and always when it
    is the reporter's own account (a channel leaves it out before the flow sees it)."""

    text: str
    origin: str | None = None
    origin_at: datetime | None = None
    frequently: bool = False
    """WhatsApp's "Forwarded many times"."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", typed(self.text))
        if self.origin is not None:
            object.__setattr__(self, "origin", typed(self.origin))


@dataclass(frozen=True, slots=True)
class Unsupported:
    """Something the flow cannot use (a sticker, a voice note, a poll)."""

    what: str


Event = Text | Choice | Media | Location | Contact | Command | Forwarded | Unsupported


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
