"""Replies: what the flow says back. Channels decide how each looks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args


@dataclass(frozen=True, slots=True)
class Option:
    id: str
    label: str
    description: str | None = None
    aliases: tuple[str, ...] = ()
    """Words typed that mean this option ("ya", "pemda"); never shown."""


@dataclass(frozen=True, slots=True)
class TextReply:
    text: str


Request = Literal["contact", "location"]
MediaKind = Literal["photo", "video", "document"]


@dataclass(frozen=True, slots=True)
class ChoicesReply:
    """A question with options. `token` identifies this prompt for stale-button checks;
    `request` asks a channel that can for a native contact or location button."""

    text: str
    options: tuple[Option, ...]
    token: int
    request: Request | None = None


@dataclass(frozen=True, slots=True)
class MediaReply:
    kind: MediaKind
    ref: str
    caption: str | None = None


Reply = TextReply | ChoicesReply | MediaReply


def to_dict(reply: Reply) -> dict[str, object]:
    """A reply as JSON-ready data, for replies queued in the outbox."""
    if isinstance(reply, TextReply):
        return {"type": "text", "text": reply.text}
    if isinstance(reply, MediaReply):
        return {"type": "media", "kind": reply.kind, "ref": reply.ref, "caption": reply.caption}
    return {"type": "choices", "text": reply.text, "token": reply.token, "request": reply.request,
            "options": [[o.id, o.label, o.description] for o in reply.options]}


def from_dict(data: dict[str, Any]) -> Reply:
    """`to_dict`'s output read back (it was JSON in the outbox meanwhile)."""
    kind = data["type"]
    if kind == "text":
        return TextReply(str(data["text"]))
    if kind == "media":
        caption = data.get("caption")
        return MediaReply(_MEDIA_KINDS[data["kind"]], str(data["ref"]), str(caption) if caption is not None else None)
    options = tuple(Option(str(o[0]), str(o[1]), o[2]) for o in data["options"])
    request = data.get("request")
    return ChoicesReply(str(data["text"]), options, int(data["token"]), None if request is None else _REQUESTS[request])


_MEDIA_KINDS: dict[object, MediaKind] = {kind: kind for kind in get_args(MediaKind)}
_REQUESTS: dict[object, Request] = {request: request for request in get_args(Request)}
