"""A terminal chat over the same engine and database, so anyone can file a report offline.

Options appear as a numbered list (type the number or the label); a photo, a document or
a recording is given as a file path (quoted, or with its spaces escaped, if it has spaces; several
paths on one line are one album); `lokasi -8.65, 115.21` sends a location pin.

The screen shows only the bot and the person: logs go to a file (`send_logs_to_file`),
any line typed is safe, and Ctrl-C or Ctrl-D ends the chat with one line.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import re
import shlex
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from bot.delivery import DeliveryWorker, Progress
from bot.plain_text import command_of, render
from flows.capabilities import Capabilities
from flows.engine import Engine
from flows.events import (
    Event,
    Inbound,
    Location,
    Media,
    MediaItem,
    MediaKind,
    Text,
)
from flows.i18n import N_, gettext_for
from flows.replies import Reply, from_dict
from flows.reporter.conversation import IDLE_STATES, Conversation
from flows.reporter.report import current_question
from storage import conversations
from storage.evidence_files import EvidenceStore
from storage.outbox import Delivery

CHANNEL = "console"
CAPABILITIES = Capabilities(name=N_("console"))
ADDRESS = "terminal"
LOG_FILE_NAME = "console.log"
"""Written next to the database (./data/console.log by default)."""
_LOCATION = re.compile(r"^(?:lokasi|location|loc)\s*:?\s*(-?\d+(?:\.\d+)?)\s*[, ]\s*(-?\d+(?:\.\d+)?)$", re.IGNORECASE)
_QUIT = {"/keluar", "/quit", "/exit"}
_FILE_SUFFIXES = frozenset({
    ".jpg", ".jpeg", ".png", ".gif", ".webp", ".heic", ".heif", ".bmp", ".tif", ".tiff",
    ".mp4", ".mov", ".3gp", ".mkv", ".avi", ".webm", ".pdf", ".doc", ".docx", ".xls", ".xlsx",
    ".ppt", ".pptx", ".odt", ".ods", ".txt", ".rtf", ".zip",
    ".ogg", ".opus", ".oga", ".m4a", ".mp3", ".aac", ".amr", ".wav",
})
_AUDIO = {".ogg": "audio/ogg", ".opus": "audio/ogg", ".oga": "audio/ogg", ".m4a": "audio/mp4", ".amr": "audio/amr",
          ".aac": "audio/aac"}
"""Recordings `mimetypes` does not know (or knows as video)."""
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MissingFiles:
    """The line names files that are not there: the console says so; nothing is sent."""

    paths: tuple[str, ...]


def media_kind(mime: str | None) -> MediaKind:
    if mime and mime.startswith("image/"):
        return "photo"
    if mime and mime.startswith("video/"):
        return "video"
    if mime and mime.startswith("audio/"):
        return "audio"
    return "document"


def mime_of(path: Path) -> str | None:
    return _AUDIO.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0]


def _is_file(path: str) -> bool:
    """Any text may be typed: a name too long for the system or with a NUL byte is simply no file."""
    try:
        return Path(path).expanduser().is_file()
    except (OSError, ValueError):
        return False


def _looks_like_path(token: str) -> bool:
    if "://" in token or len(token) > 4096:
        return False
    if token.startswith(("/", "~", "./", "../", "\\")) or re.match(r"^[A-Za-z]:[\\/]", token):
        return True
    return Path(token).suffix.lower() in _FILE_SUFFIXES and not token.startswith(".")


def _tokens(text: str) -> list[str]:
    """Words as a shell splits them ("/tmp/my photo.jpg" quoted, or my\\ photo.jpg), or
    plainly where the line is not shell-like (an apostrophe in "Jum'at")."""
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def read_line(line: str) -> Event | MissingFiles | list[Path]:
    """What the typed line means: a command, a location, files (as paths, not yet stored),
    files that are not there, or plain text."""
    text = line.strip()
    command = command_of(text)
    if command is not None and not _is_file(text):
        return command
    match = _LOCATION.match(text)
    if match:
        return Location(float(match.group(1)), float(match.group(2)))
    if not text:
        return Text(line.rstrip("\n"))
    if _is_file(text):  # one path with spaces, typed as it is
        return [Path(text).expanduser()]
    tokens = _tokens(text)
    if tokens and all(_is_file(t) for t in tokens):
        return [Path(t).expanduser() for t in tokens]
    if tokens and all(_is_file(t) or _looks_like_path(t) for t in tokens):
        return MissingFiles(tuple(t for t in tokens if not _is_file(t)))
    return Text(line.rstrip("\n"))


async def to_event(line: str, store: EvidenceStore, may_store: int = 10) -> Event | MissingFiles:
    """The line as a flow event; files are copied into the evidence store first, but only
    the first `may_store` (`Engine.file_room`): the flow says the rest were not kept."""
    meant = read_line(line)
    if not isinstance(meant, list):
        return meant
    items = []
    for n, path in enumerate(meant):
        mime = mime_of(path)
        if n >= may_store:
            items.append(MediaItem(media_kind(mime), str(path.resolve()), None, mime, None, None, path.name))
            continue
        stored = await store.put_file(path)
        items.append(MediaItem(media_kind(mime), str(path.resolve()), stored.sha256, mime,
                               stored.size, stored.sha256, path.name))
    return Media(tuple(items))


class ConsoleSender:
    """Outbox messages for the console reporter (news about their case) are printed."""

    def __init__(self, stdout: TextIO) -> None:
        self.stdout = stdout

    async def deliver(self, delivery: Delivery, progress: Progress) -> None:
        locale = str(delivery.payload.get("locale") or "id")
        for data in delivery.payload.get("replies", []):
            self.stdout.write("\n" + render(from_dict(data), locale) + "\n")
        self.stdout.flush()


def send_logs_to_file(path: Path) -> Path:
    """In the console the terminal is the chat: every log handler writes to `path`
    instead (keeping its format and filters), and so does anything else written to
    stderr (warnings, a traceback)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    stream = path.open("a", encoding="utf-8", buffering=1)
    root = logging.getLogger()
    handlers = [h for h in root.handlers if isinstance(h, logging.StreamHandler)
                and not isinstance(h, logging.FileHandler)]
    if not handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        handlers = [handler]
    for handler in handlers:
        handler.setStream(stream)
    logging.captureWarnings(True)
    sys.stderr = stream
    return path


class _Lines:
    """Typed lines from a daemon thread: a blocked read never keeps the process from
    exiting (Ctrl-C), as `asyncio.to_thread` would."""

    def __init__(self, stdin: TextIO) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def pump() -> None:
            while True:
                try:
                    line = stdin.readline()
                except (OSError, ValueError, UnicodeDecodeError):
                    line = ""
                loop.call_soon_threadsafe(self.queue.put_nowait, line)
                if not line:
                    return

        threading.Thread(target=pump, name="console-stdin", daemon=True).start()

    async def next(self) -> str:
        return await self.queue.get()


def _printable(text: str) -> str:
    """A typed path shown back without the control characters it may hold."""
    return "".join(c if c.isprintable() else "?" for c in text)


async def _stored(engine: Engine, address: str) -> Conversation | None:
    async with engine.db.reading() as tx:
        row = await conversations.load(tx, CHANNEL, address)
    return Conversation.from_json(row.state, row.data, row.updated_at) if row else None


async def chat(engine: Engine, store: EvidenceStore, locale: str,
               stdin: TextIO, stdout: TextIO, address: str = ADDRESS) -> None:
    """Messages for Telegram groups stay queued in the outbox; `python -m bot run` on the
    same database sends them."""
    _ = gettext_for(locale)
    worker = DeliveryWorker(engine.db, engine.policy, {CHANNEL: ConsoleSender(stdout)})
    lines = _Lines(stdin)

    def show(replies: list[Reply], reply_locale: str) -> None:
        stdout.writelines("\n" + render(reply, reply_locale) + "\n" for reply in replies)

    stdout.write(_(
        "Lapor Netral console chat. Type anything to begin. A number picks an option; "
        "to send a photo or document, type its file path (in quotes if it has spaces); /keluar quits."
    ) + "\n\n")
    conv = await _stored(engine, address)
    if conv is not None and conv.state not in IDLE_STATES:
        again = current_question(conv, CAPABILITIES, datetime.now(UTC))
        if again:
            _ = gettext_for(conv.locale)
            stdout.write(_("You have a report in progress. This is where you were:") + "\n")
            show(again, conv.locale)
            stdout.write("\n")
    stdout.flush()
    try:
        while True:
            stdout.write("> ")
            stdout.flush()
            line = await lines.next()
            if not line or line.strip().lower() in _QUIT:
                if not line:
                    stdout.write("\n")
                break
            await _one_line(engine, store, worker, line, locale, address, stdout, show)
            stdout.write("\n")
            stdout.flush()
    except asyncio.CancelledError:  # Ctrl-C: asyncio.run cancels the chat
        stdout.write("\n")
    finally:
        await worker.stop()
    conv = await _stored(engine, address)
    _ = gettext_for(conv.locale if conv else locale)
    if conv is not None and conv.state not in IDLE_STATES:
        stdout.write(_("Goodbye. Your unfinished report is kept: start the console again to continue it.") + "\n")
    else:
        stdout.write(_("Goodbye.") + "\n")
    stdout.flush()


async def _one_line(engine: Engine, store: EvidenceStore, worker: DeliveryWorker, line: str, locale: str,
                    address: str, stdout: TextIO, show: Callable[[list[Reply], str], None]) -> None:
    """One typed line, end to end; whatever happens, the chat goes on (the details go to
    the log file, never the screen)."""
    _ = gettext_for(locale)
    try:
        now = datetime.now(UTC)
        event = await to_event(line, store, await engine.file_room(CHANNEL, address, now))
        if isinstance(event, MissingFiles):
            stdout.write("\n" + "\n".join(_("File not found: {path}").format(path=_printable(p))
                                           for p in event.paths) + "\n")
            return
        handled = await engine.handle(Inbound(CHANNEL, address, uuid.uuid4().hex, event, now,
                                              locale, caps=CAPABILITIES))
        show(handled.replies, handled.locale)
        await worker.run_once()
        await worker.settle()  # news printed now, before the next prompt
    except Exception:
        log.exception("console input not handled")
        stdout.write("\n" + _("Sorry, something went wrong on our side. Nothing you entered before was lost; "
                               "please try again.") + "\n")
