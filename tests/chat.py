"""A scripted reporter talking to the real engine on a real database (SQLite or PostgreSQL),
or to the report flow alone without one (`tests.steps.Steps`, which stands where the engine
stands).

Input lines (used by the transcript files and the tests):
  /name args      a command            @id          press the option with that id
  #photo NAME     one photo            #album N     an album of N photos
  #doc NAME       a document           #video NAME  a video
  #loc LAT,LON    a location pin       #contact NUM a shared contact
  #files A B ..   files in one message  #sticker     something unusable
  #voice NAME     a voice note         #forward ORIGIN|TEXT  a forwarded message
  #wait 25h       let time pass        #route CODE  a focal-point group for a region
  #empty          an empty message     #long N      a text of N characters
  anything else   typed text
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from bot.plain_text import render as render_plain
from flows.engine import Engine, Handled
from flows.events import (
    Choice,
    Command,
    Contact,
    Event,
    Forwarded,
    Inbound,
    Location,
    Media,
    MediaItem,
    Text,
    Unsupported,
)
from flows.replies import ChoicesReply, MediaReply, Reply, TextReply, from_dict
from storage import Database, conversations, routes
from tests.steps import Steps

WIB = timezone(timedelta(hours=7))
START = datetime(2024, 11, 21, 10, 0, tzinfo=WIB)
CASE_NUMBER = re.compile(r"LN-\d{2}-[0-9A-Z]{5}")


def media(kind: str, name: str) -> MediaItem:
    digest = hashlib.sha256(name.encode()).hexdigest()
    mime = {"photo": "image/jpeg", "video": "video/mp4", "audio": "audio/ogg"}.get(kind, "application/pdf")
    return MediaItem(kind, f"file-{name}", f"uniq-{name}", mime, 1000, digest, name)  # type: ignore[arg-type]


def parse(line: str) -> Event:
    if line.startswith("/"):
        name, _, args = line[1:].partition(" ")
        return Command(name, args)
    if line.startswith("@"):
        return Choice(line[1:])
    word, _, rest = line.partition(" ")
    if word == "#photo":
        return Media((media("photo", rest),))
    if word == "#video":
        return Media((media("video", rest),))
    if word == "#voice":
        return Media((media("audio", rest),))
    if word == "#forward":
        origin, _, body = rest.partition("|")
        return Forwarded(body, origin or None, datetime(2024, 11, 18, 2, 15, tzinfo=UTC))
    if word == "#doc":
        return Media((media("document", rest),))
    if word == "#files":
        return Media(tuple(media("photo", name) for name in rest.split()))
    if word == "#album":
        return Media(tuple(media("photo", f"album-{i}") for i in range(int(rest))))
    if word == "#loc":
        lat, lon = rest.split(",")
        return Location(float(lat), float(lon))
    if word == "#contact":
        return Contact(rest)
    if word == "#sticker":
        return Unsupported("sticker")
    if word == "#empty":
        return Text("")
    if word == "#long":
        return Text("x" * int(rest))
    return Text(line)


PLAIN_CHANNELS = ("whatsapp", "console")
"""Channels that show options as a numbered list: their transcripts show the exact text."""


def _location_hint(channel: str) -> str:
    from bot.plain_text import CONSOLE_LOCATION
    from bot.whatsapp.sender import LOCATION_HINT

    return LOCATION_HINT if channel == "whatsapp" else CONSOLE_LOCATION


def caps_for(channel: str):  # type: ignore[no-untyped-def]
    """The abilities the real channel passes with each message ("test": Telegram's)."""
    from bot.console import CAPABILITIES as CONSOLE
    from bot.telegram.channel import CAPABILITIES as TELEGRAM
    from bot.whatsapp.payload import CAPABILITIES as WHATSAPP

    return {"whatsapp": WHATSAPP, "console": CONSOLE}.get(channel, TELEGRAM)


def render(replies: list[Reply], channel: str = "test", locale: str = "id") -> list[str]:
    lines: list[str] = []
    if channel in PLAIN_CHANNELS:
        text = "\n\n".join(render_plain(r, locale, _location_hint(channel)) for r in replies)
        return [CASE_NUMBER.sub("LN-XX-XXXXX", line) for line in text.splitlines()] if replies else []
    for reply in replies:
        if isinstance(reply, TextReply):
            lines.append(reply.text)
        elif isinstance(reply, MediaReply):
            lines.append(f"[{reply.kind}] {reply.ref}")
        else:
            lines.append(reply.text)
            for option in reply.options:
                extra = f" - {option.description}" if option.description else ""
                lines.append(f"  [{option.id}] {option.label}{extra}")
            if reply.request:
                lines.append(f"  (request {reply.request})")
    return [CASE_NUMBER.sub("LN-XX-XXXXX", line) for line in "\n".join(lines).splitlines()]


class Chat:
    def __init__(self, engine: Engine | Steps, address: str = "reporter-1", locale: str | None = "id",
                 channel: str = "test", update_prefix: str | None = None) -> None:
        self.engine = engine
        self.address = address
        self.update_prefix = update_prefix or address
        self.locale = locale
        self.channel = channel
        self.now = START
        self.counter = 0
        self.last: Handled | None = None
        self.news_seen = 0

    @property
    def caps(self):  # type: ignore[no-untyped-def]
        return caps_for(self.channel)

    async def send(self, line: str, update_id: str | None = None) -> Handled:
        if line.startswith("#wait "):
            amount = line.split()[1]
            self.now += timedelta(hours=int(amount.rstrip("h")))
            return Handled([], self.locale or "id")
        if line.startswith("#route "):
            if isinstance(self.engine, Steps):
                self.engine.add_route(line.split()[1])
            async with self.engine.db.transaction() as tx:
                await routes.add(tx, line.split()[1], -1009999, by="test", at=self.now.isoformat())
            return Handled([], self.locale or "id")
        self.counter += 1
        self.now += timedelta(seconds=20)
        extra = {"caps": self.caps} if "caps" in Inbound.__dataclass_fields__ else {}
        inbound = Inbound(self.channel, self.address, update_id or f"{self.update_prefix}-{self.counter}",
                          parse(line), self.now, self.locale, **extra)
        self.last = await self.engine.handle(inbound)
        return self.last

    async def news(self) -> list[Reply]:
        """Messages queued in the outbox for this reporter since the last call (news about
        their case, an officer's question): what reaches them outside the step's answer.
        Without a database there is no outbox, and nothing but the step's answer."""
        if isinstance(self.engine, Steps):
            return []
        async with self.engine.db.reading() as tx:
            rows = await tx.execute_fetchall(
                "SELECT id, payload FROM outbox WHERE channel = ? AND address = ? AND id > ? ORDER BY id",
                (self.channel, self.address, self.news_seen))
        found: list[Reply] = []
        for row_id, payload in rows:
            self.news_seen = max(self.news_seen, int(row_id))
            found.extend(from_dict(r) for r in json.loads(payload).get("replies", []))
        return found

    async def run(self, *lines: str) -> Handled:
        for line in lines:
            await self.send(line)
        assert self.last is not None
        return self.last

    async def stored(self) -> conversations.StoredConversation | None:
        """The conversation as stored after the last step (None: nothing is kept)."""
        if isinstance(self.engine, Steps):
            return await self.engine.stored(self.channel, self.address)
        async with self.engine.db.reading() as tx:
            return await conversations.load(tx, self.channel, self.address)

    async def draft(self) -> dict[str, Any]:
        stored = await self.stored()
        assert stored is not None
        return json.loads(stored.data)["draft"]  # type: ignore[no-any-return]

    async def state(self) -> str:
        stored = await self.stored()
        return stored.state if stored else "none"

    def text(self) -> str:
        return "\n".join(render(self.last.replies if self.last else [], self.channel))

    def options(self) -> list[str]:
        for reply in reversed(self.last.replies if self.last else []):
            if isinstance(reply, ChoicesReply):
                return [o.id for o in reply.options]
        return []


HAPPY_PATH = (
    "halo", "@agree", "denpasar", "@pemda", "@sekolah", "SMPN 1 Denpasar",
    "Budi Santoso", "Kepala Sekolah", "@pns", "@media_sosial", "19/11/2024", "@today",
    "Ruang guru SMPN 1 Denpasar", "#loc -8.65,115.21",
    "Kepala sekolah mengunggah ajakan memilih paslon 2 di grup WhatsApp guru.",
    "@skip", "#album 3", "#doc surat.pdf", "@done", "@rahasia", "Siti Aminah",
    "0812 3456 7890",
)


async def open_engine(path: str) -> Engine:
    return Engine(await Database.open(path))


__all__ = ["Chat", "HAPPY_PATH", "START", "open_engine", "parse", "render"]
