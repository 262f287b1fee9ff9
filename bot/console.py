"""A terminal chat over the same engine and database, so anyone can file a report offline.

Options appear as a numbered list (type the number or the label); a photo or document
is given as a file path; `lokasi -8.65, 115.21` sends a location pin.
"""

from __future__ import annotations

import asyncio
import mimetypes
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from bot.delivery import DeliveryWorker, Progress
from bot.plain_text import render
from flows.engine import Engine
from flows.events import (
    Command,
    Event,
    Inbound,
    Location,
    Media,
    MediaItem,
    MediaKind,
    Text,
)
from flows.i18n import gettext_for
from flows.replies import from_dict
from storage.evidence_files import EvidenceStore
from storage.outbox import Delivery

CHANNEL = "console"
_LOCATION = re.compile(r"^(?:lokasi|location|loc)\s*:?\s*(-?\d+(?:\.\d+)?)\s*[, ]\s*(-?\d+(?:\.\d+)?)$", re.IGNORECASE)
_QUIT = {"/keluar", "/quit", "/exit"}


def media_kind(mime: str | None) -> MediaKind:
    if mime and mime.startswith("image/"):
        return "photo"
    if mime and mime.startswith("video/"):
        return "video"
    return "document"


async def to_event(line: str, store: EvidenceStore, may_store: int = 10) -> Event:
    """What the typed line means: a command, a location, file paths, or plain text. Of the
    files, only the first `may_store` are stored (`Engine.file_room`); the flow says the rest
    were not kept."""
    text = line.strip()
    if text.startswith("/") and len(text) > 1 and not Path(text.split()[0]).exists():
        name, _, args = text[1:].partition(" ")
        return Command(name.split("@")[0].lower(), args.strip())
    match = _LOCATION.match(text)
    if match:
        return Location(float(match.group(1)), float(match.group(2)))
    paths = [Path(p).expanduser() for p in text.split()] if text else []
    if paths and all(p.is_file() for p in paths):
        items = []
        for n, path in enumerate(paths):
            mime = mimetypes.guess_type(path.name)[0]
            if n >= may_store:
                items.append(MediaItem(media_kind(mime), str(path.resolve()), None, mime, None, None, path.name))
                continue
            stored = await store.put_file(path)
            items.append(MediaItem(media_kind(mime), str(path.resolve()), stored.sha256, mime,
                                   stored.size, stored.sha256, path.name))
        return Media(tuple(items))
    return Text(line.rstrip("\n"))


class ConsoleSender:
    """Outbox messages for the console reporter (news about their case) are printed."""

    def __init__(self, stdout: TextIO) -> None:
        self.stdout = stdout

    async def deliver(self, delivery: Delivery, progress: Progress) -> None:
        locale = str(delivery.payload.get("locale") or "id")
        for data in delivery.payload.get("replies", []):
            self.stdout.write("\n" + render(from_dict(data), locale) + "\n")
        self.stdout.flush()


async def chat(engine: Engine, store: EvidenceStore, locale: str,
               stdin: TextIO, stdout: TextIO, address: str = "local") -> None:
    """Messages for Telegram groups stay queued in the outbox; `python -m bot run` on the
    same database sends them."""
    _ = gettext_for(locale)
    worker = DeliveryWorker(engine.db, engine.policy, {CHANNEL: ConsoleSender(stdout)})
    stdout.write(_(
        "Lapor Netral console chat. Type anything to begin. A number picks an option; "
        "to send a photo or document, type its file path; /keluar quits."
    ) + "\n\n")
    stdout.flush()
    while True:
        stdout.write("> ")
        stdout.flush()
        line = await asyncio.to_thread(stdin.readline)
        if not line or line.strip().lower() in _QUIT:
            break
        now = datetime.now(UTC)
        event = await to_event(line, store, await engine.file_room(CHANNEL, address, now))
        handled = await engine.handle(Inbound(CHANNEL, address, uuid.uuid4().hex, event, now, locale))
        stdout.writelines("\n" + render(reply, handled.locale) + "\n" for reply in handled.replies)
        await worker.run_once()
        stdout.write("\n")
        stdout.flush()
    await worker.stop()
