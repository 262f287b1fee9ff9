"""Twilio's WhatsApp webhook form as a pydantic model, and what it means for the flow.

The mapping is pure (no downloads): `to_event` takes the form and the already downloaded
media, so it can be tested table by table.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from bot.plain_text import command_of
from flows.capabilities import Capabilities
from flows.events import (
    Event,
    Forwarded,
    Location,
    Media,
    MediaItem,
    MediaKind,
    Text,
    Unsupported,
)
from flows.i18n import N_

CHANNEL = "whatsapp"
CAPABILITIES = Capabilities(short_menus=True, name=N_("WhatsApp"))
MAX_MEDIA = 10
MAX_BODY = 10_000
REFUSED_FIELD = "_refused"
"""Set, instead of the message, on a queued message we cannot take (too long, unreadable):
the sender is told why, and nothing of it is stored."""
OPT_OUT = frozenset({"stop", "berhenti", "unsubscribe", "stopall"})
OPT_IN = frozenset({"start", "mulai"})


class MediaRef(BaseModel):
    url: str
    content_type: str


class TwilioInbound(BaseModel):
    """The fields we use of Twilio's inbound message request (all strings on the wire)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    message_sid: str = Field(alias="MessageSid", min_length=2, max_length=64)
    sender: str = Field(alias="From", min_length=1, max_length=64)
    body: str = Field(default="", alias="Body", max_length=MAX_BODY)
    num_media: int = Field(default=0, alias="NumMedia", ge=0, le=MAX_MEDIA)
    latitude: float | None = Field(default=None, alias="Latitude", ge=-90, le=90)
    longitude: float | None = Field(default=None, alias="Longitude", ge=-180, le=180)
    message_type: str | None = Field(default=None, alias="MessageType")
    forwarded: bool = Field(default=False, alias="Forwarded")
    frequently_forwarded: bool = Field(default=False, alias="FrequentlyForwarded")
    button_payload: str = Field(default="", alias="ButtonPayload", max_length=256)
    """A quick reply's payload (a message template's button): what an officer's tap means."""

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> TwilioInbound:
        return cls.model_validate(dict(form))

    @staticmethod
    def media_of(form: Mapping[str, str], count: int) -> list[MediaRef]:
        found = []
        for n in range(min(count, MAX_MEDIA)):
            url = form.get(f"MediaUrl{n}")
            if url:
                found.append(MediaRef(url=url, content_type=form.get(f"MediaContentType{n}", "")))
        return found

    @property
    def address(self) -> str:
        """The sender's number without the `whatsapp:` prefix: `+6281234567890`."""
        return self.sender.removeprefix("whatsapp:")

    @property
    def keyword(self) -> str:
        return " ".join(self.body.split()).casefold().strip(".!")


def media_kind(content_type: str) -> MediaKind | None:
    """None for what cannot be evidence here (contact cards). Voice notes come as
    `audio/ogg; codecs=opus`, other recordings as audio/mpeg, audio/mp4, audio/aac, audio/amr."""
    mime = content_type.split(";")[0].strip().lower()
    if mime.startswith("image/"):
        return "photo"
    if mime.startswith("video/"):
        return "video"
    if mime.startswith("audio/"):
        return "audio"
    if mime.startswith(("text/vcard", "text/x-vcard")):
        return None
    return "document"


def to_event(message: TwilioInbound, media: list[MediaItem]) -> Event:
    """What the message means to the flow. `media` are the files already stored."""
    if message.latitude is not None and message.longitude is not None:
        return Location(message.latitude, message.longitude)
    if media:
        return Media(tuple(media))
    if message.num_media:
        return Unsupported("voice" if (message.message_type or "").lower() in ("audio", "voice") else "media")
    command = command_of(message.body)
    if command is not None:
        return command
    if (message.forwarded or message.frequently_forwarded) and message.body.strip():
        return Forwarded(message.body, frequently=message.frequently_forwarded)  # WhatsApp names no origin
    return Text(message.body)
