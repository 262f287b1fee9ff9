"""A Telegram update as a flow event. Files are downloaded here (up to the Bot API's
20 MB, within `bot/downloads.py`'s deadlines) into the evidence store, so the case keeps the
bytes and their SHA-256."""

from __future__ import annotations

from datetime import datetime

from telegram import (
    Audio,
    Bot,
    Document,
    Message,
    MessageOriginChannel,
    MessageOriginChat,
    MessageOriginHiddenUser,
    MessageOriginUser,
    PhotoSize,
    Update,
    Video,
    VideoNote,
    Voice,
)
from telegram.error import BadRequest

from bot.downloads import Downloads, NotReceived, TooLargeFile
from flows.events import (
    Choice,
    Command,
    Contact,
    Event,
    Forwarded,
    Location,
    Media,
    MediaItem,
    MediaKind,
    Text,
    Unsupported,
)
from storage.evidence_files import EvidenceStore

MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
UNSUPPORTED = ("sticker", "animation", "poll", "dice", "game")


class FileTooLarge(Exception):
    """The file is over what the Bot API lets a bot download."""


def callback_data(token: int, option_id: str) -> str:
    """Button data: the prompt token and the option id (Telegram allows 64 bytes)."""
    data = f"{token}:{option_id}"
    if len(data.encode()) > 64:
        raise ValueError(f"callback data too long: {data!r}")
    return data


def parse_callback(data: str | None) -> Event:
    token, _, option_id = (data or "").partition(":")
    if token.isdecimal() and len(token) <= 18 and option_id:  # a database integer, whatever the client sends
        return Choice(option_id, int(token))
    return Unsupported("callback")


def parse_command(text: str) -> Command:
    head, _, args = text[1:].partition(" ")
    return Command(head.split("@")[0].lower(), args.strip())


async def to_event(update: Update, bot: Bot, store: EvidenceStore, may_store: int = 1,
                   downloads: Downloads | None = None) -> Event:
    """`may_store`: how many files of this update may be kept (`Engine.file_room`); a file
    beyond it is passed on unread, so the flow can say it was not kept. `downloads`: the
    deadlines a file download keeps (`NotReceived` past them)."""
    if update.callback_query is not None:
        return parse_callback(update.callback_query.data)
    message = update.effective_message
    if message is None:
        return Unsupported("update")
    if message.forward_origin is not None and (message.text or message.caption) \
            and not (message.photo or message.video or message.document or message.voice or message.audio):
        return forwarded(message)
    if message.text is not None:
        return parse_command(message.text) if message.text.startswith("/") else Text(message.text)
    media = await _media(message, bot, store, may_store, downloads or Downloads())
    if media is not None:
        return media
    if message.venue is not None:
        venue = message.venue
        return Location(venue.location.latitude, venue.location.longitude,
                        f"{venue.title}, {venue.address}".strip(", "))
    if message.location is not None:
        return Location(message.location.latitude, message.location.longitude)
    if message.contact is not None:
        return Contact(message.contact.phone_number, message.contact.first_name)
    for kind in UNSUPPORTED:
        if getattr(message, kind, None) is not None:
            return Unsupported(kind)
    return Unsupported("message")


def has_file(update: Update) -> bool:
    message = update.effective_message
    return message is not None and bool(message.photo or message.video or message.document or message.voice
                                        or message.audio or message.video_note)


def forwarded(message: Message) -> Forwarded:
    """A forwarded message as evidence: its text, its origin as Telegram gives it, its
    first date. The reporter's own account is never named (their name or id would reach
    the officers): it is their own message they forward."""
    origin = message.forward_origin
    sender = message.from_user
    name: str | None = None
    if isinstance(origin, MessageOriginUser):
        if sender is None or origin.sender_user.id != sender.id:
            user = origin.sender_user
            name = _titled(user.full_name, user.username)
    elif isinstance(origin, MessageOriginHiddenUser):
        own = sender is not None and origin.sender_user_name.strip().casefold() == sender.full_name.strip().casefold()
        name = None if own else origin.sender_user_name
    elif isinstance(origin, MessageOriginChat):
        chat = origin.sender_chat
        name = _titled(chat.title or chat.full_name or "", chat.username)
        if origin.author_signature:
            name = f"{name} ({origin.author_signature})"
    elif isinstance(origin, MessageOriginChannel):
        name = _titled(origin.chat.title or "", origin.chat.username)
        if origin.author_signature:
            name = f"{name} ({origin.author_signature})"
    at: datetime | None = origin.date if origin is not None else None
    return Forwarded(message.text or message.caption or "", name or None, at)


def _titled(title: str, username: str | None) -> str:
    return f"{title} (@{username})" if username else title


async def _media(message: Message, bot: Bot, store: EvidenceStore, may_store: int,
                 downloads: Downloads) -> Media | None:
    kind: MediaKind
    attachment: PhotoSize | Video | Document | Voice | Audio | VideoNote
    mime: str | None
    name: str | None
    if message.photo:
        attachment, kind, mime, name = message.photo[-1], "photo", "image/jpeg", None
    elif message.video is not None:
        attachment, kind, mime, name = message.video, "video", message.video.mime_type, message.video.file_name
    elif message.voice is not None:  # a voice note: Opus in Ogg
        attachment, kind, mime, name = message.voice, "audio", message.voice.mime_type or "audio/ogg", None
    elif message.audio is not None:
        attachment, kind, mime, name = message.audio, "audio", message.audio.mime_type, message.audio.file_name
    elif message.video_note is not None:  # the round video: an MP4
        attachment, kind, mime, name = message.video_note, "video", "video/mp4", None
    elif message.document is not None:
        doc = message.document
        doc_mime = doc.mime_type or ""
        kind = "photo" if doc_mime.startswith("image/") else "audio" if doc_mime.startswith("audio/") else "document"
        attachment, mime, name = doc, doc.mime_type, doc.file_name
    else:
        return None
    if may_store <= 0:  # not agreed, over a limit, or a step that keeps no file: nothing is read
        return Media((MediaItem(kind, attachment.file_id, attachment.file_unique_id, mime),), message.caption)
    if (attachment.file_size or 0) > MAX_DOWNLOAD_BYTES:
        raise FileTooLarge()
    try:
        file = await bot.get_file(attachment.file_id)
    except BadRequest as exc:
        if "too big" in str(exc).lower():
            raise FileTooLarge() from exc
        raise
    if not file.file_path:
        raise NotReceived("no file path")
    try:  # streamed into the store under the deadlines, never whole in memory
        stored = await downloads.fetch(file.file_path, store, MAX_DOWNLOAD_BYTES)
    except TooLargeFile as exc:
        raise FileTooLarge() from exc
    item = MediaItem(kind, attachment.file_id, attachment.file_unique_id, mime, stored.size,
                     stored.sha256, name)
    return Media((item,), message.caption)
