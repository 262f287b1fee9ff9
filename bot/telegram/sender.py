"""Sends outbox deliveries with the Telegram Bot API and translates its errors into the
worker's vocabulary (retry later, chat gone, chat migrated, message rejected)."""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from telegram import (
    Bot,
    InlineKeyboardMarkup,
    InputFile,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
    LinkPreviewOptions,
    Message,
    ReplyKeyboardRemove,
    ReplyParameters,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.case_file import ALREADY_SENT, CaseFiles
from bot.delivery import Dropped, Gone, Migrated, Progress, Rejected, Retry
from bot.telegram.case_card import CardData, render
from bot.telegram.limiter import DeliveryRateLimiter
from bot.telegram.render import messages
from bot.telegram.text_limits import MAX_TEXT, units
from cleaning import Cleaned, Unsafe
from cleaning.stored import cleaned_copy
from flows.case import card
from flows.case.case_file import Order
from flows.command_menus import MENU
from flows.i18n import gettext_for
from flows.replies import from_dict
from flows.staff.audience import Audience
from storage import Database, case_posts, cases
from storage.cases import Case, Evidence
from storage.evidence_files import EvidenceStore
from storage.outbox import Delivery

log = logging.getLogger(__name__)
ALBUM_SIZE = 10
VISUAL = ("photo", "video")
GONE_PHRASES = ("chat not found", "bot was kicked", "bot is not a member", "group chat was deactivated",
                "user is deactivated", "peer_id_invalid", "have no rights to send")
UNCHANGED = "message is not modified"
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
"""A link an officer or a reporter typed is not fetched by Telegram for a preview."""
PHOTO_MAX_BYTES = 10 * 1024 * 1024
VOICE_MIMES = frozenset({"audio/ogg"})
"""sendVoice: Opus in Ogg, as voice notes are recorded."""
AUDIO_MIMES = frozenset({"audio/mpeg", "audio/mp4"})
"""sendAudio takes MP3 and M4A; other recordings (AMR, 3GP, WebM) go as documents."""
PHOTO_MAX_SIDES = 10_000


class TelegramSender:
    def __init__(self, bot: Bot, db: Database, store: EvidenceStore, locale: str,
                 case_files: CaseFiles | None = None) -> None:
        self.bot = bot
        self.db = db
        self.store = store
        self.locale = locale
        self.case_files = case_files or CaseFiles(db, store)

    async def deliver(self, delivery: Delivery, progress: Progress) -> None:
        try:
            if delivery.kind == "post_case":
                await self._post_case(delivery, progress)
            elif delivery.kind == "edit_case":
                await self._edit_case(delivery)
            elif MENU in delivery.payload:  # a person's command menu follows their role
                from bot.telegram.app import set_private_menu

                await set_private_menu(self.bot, int(delivery.address), delivery.payload[MENU], self.locale)
            elif delivery.payload.get("staff") is not None:  # an answer to a staff command or button
                from bot.telegram.staff import deliver_answer

                await deliver_answer(self, delivery, progress)
            else:
                await self._send(delivery, progress)
        except RetryAfter as exc:  # Telegram's flood control for this chat: nothing goes there before then
            after = exc.retry_after
            raise Retry("retry_after", after.total_seconds() if isinstance(after, timedelta) else float(after),
                        floor=True) from exc
        except ChatMigrated as exc:
            raise Migrated(str(exc.new_chat_id)) from exc
        except Forbidden as exc:
            raise Gone(exc.message) from exc
        except BadRequest as exc:
            message = exc.message.lower()
            if UNCHANGED in message:
                return
            if any(phrase in message for phrase in GONE_PHRASES):
                raise Gone(exc.message) from exc
            raise Rejected(exc.message) from exc
        except NetworkError as exc:  # includes TimedOut
            raise Retry(f"network: {exc.message}") from exc
        except TelegramError as exc:
            raise Retry(f"telegram: {exc.message}") from exc

    # --- a case to a focal-point group ------------------------------------------------------

    async def _card(self, delivery: Delivery) -> tuple[CardData, list[Evidence], int | None] | None:
        assert delivery.case_id is not None and delivery.post_id is not None
        async with self.db.reading() as tx:
            loaded = await card.load(tx, delivery.case_id, delivery.post_id)
        if loaded is None:
            return None
        data, post = loaded
        return data, list(data.items), post.message_id

    async def _post_case(self, delivery: Delivery, progress: Progress) -> None:
        """Part 0 is the card; parts 1.. are the evidence batches, each recorded when sent,
        then the notice of files kept for moderators. Nothing is sent for a case that left
        the group before its card went out."""
        loaded = await self._card(delivery)
        if loaded is None:
            return
        data, evidence, card_id = loaded
        if not data.active_here:
            return
        chat_id = int(delivery.address)
        if delivery.progress == 0:
            text, markup = render(data, self.locale, chat_id)
            sent = await self.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup,
                                               link_preview_options=NO_PREVIEW)
            card_id = sent.message_id
            await progress(1, card_id)
        batches = _batches(evidence)
        kept = await self._unsafe_count(evidence) if batches and delivery.progress <= len(batches) else 0
        for index, batch in enumerate(batches, start=1):
            if index < delivery.progress:
                continue
            await self._send_evidence(chat_id, data.case, batch, card_id, index, len(batches),
                                      kept_notice=kept if index == len(batches) else 0)
            await progress(index + 1, None)

    async def send_case_evidence(self, chat_id: int, case: Case, audience: Audience) -> None:
        """All of a case's evidence to a chat (`/lihat`), as `audience` may receive it: files
        that could not be made safe go, as they are and with a warning, only to a private
        chat with an admin or a moderator; elsewhere they are counted."""
        async with self.db.reading() as tx:
            evidence = await cases.evidence_of(tx, case.id)
        batches = _batches(evidence)
        raw = audience.gets_unsafe_files
        kept = 0 if raw else await self._unsafe_count(evidence)
        self._room_for(chat_id, sum(_calls(b) for b in batches) + (1 if kept else 0))  # one part: all, or later
        for index, batch in enumerate(batches, start=1):
            await self._send_evidence(chat_id, case, batch, None, index, len(batches), unsafe_as_is=raw,
                                      kept_notice=kept if index == len(batches) else 0)

    async def _send_evidence(self, chat_id: int, case: Case, batch: list[Evidence], reply_to: int | None,
                             index: int, total: int, *, unsafe_as_is: bool = False, kept_notice: int = 0) -> None:
        """The batch's cleaned copies (photos and videos as an album, documents one by one),
        named after the case, never after the reporter's file; then, if `kept_notice`, how
        many of the case's files stay with the moderators (sent with the last batch, so the
        delivery has no extra part)."""
        self._room_for(chat_id, _calls(batch) + (1 if kept_notice else 0))
        _ = gettext_for(self.locale)
        caption: str | None = _("Evidence for {number} ({index}/{total})").format(
            number=case.number, index=index, total=total)
        reply = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
        ready: list[tuple[str, bytes, str, str | None]] = []  # kind, bytes, file name, own caption
        for item in batch:
            name = f"{case.number}-bukti-{item.position}"
            cleaned = await cleaned_copy(self.db, self.store, item.sha256, item.mime)
            if isinstance(cleaned, Cleaned):
                ready.append((_kind(item, cleaned), cleaned.data, name + cleaned.extension, None))
            elif unsafe_as_is and item.sha256 and (data := await self.store.get(item.sha256)) is not None:
                ready.append(("document", data, name + (mimetypes.guess_extension(item.mime or "") or ".bin"),
                              _("Not cleaned: this file could not be made safe and may carry data that "
                                "identifies the reporter. Do not forward it.")))
        visual = [r for r in ready if r[0] in VISUAL]
        if len(visual) > 1:
            media = [_input_media(kind, data, name, caption if n == 0 else None)
                     for n, (kind, data, name, _own) in enumerate(visual)]
            await self.bot.send_media_group(chat_id, media, reply_parameters=reply)
            caption = None
        singles = visual if len(visual) == 1 else []
        for kind, data, name, own in singles + [r for r in ready if r[0] not in VISUAL]:
            methods: dict[str, Callable[..., Awaitable[Any]]] = {
                "photo": self.bot.send_photo, "video": self.bot.send_video, "voice": self.bot.send_voice,
                "audio": self.bot.send_audio}
            send = methods.get(kind, self.bot.send_document)
            text = " · ".join(t for t in (caption, own) if t) or None
            await send(chat_id, InputFile(data, filename=name), caption=text, reply_parameters=reply)
            caption = None
        if kept_notice:
            await self._kept_notice(chat_id, case, kept_notice, reply)

    def _room_for(self, chat_id: int, calls: int) -> None:
        """A part of a delivery that makes several calls goes only when its group has a slot
        for each (`DeliveryRateLimiter.ensure_room`): otherwise it comes back for them."""
        limiter = getattr(self.bot, "rate_limiter", None)
        if isinstance(limiter, DeliveryRateLimiter):
            limiter.ensure_room(chat_id, calls)

    async def _unsafe_count(self, evidence: list[Evidence]) -> int:
        """How many of these files cannot be made safe (each cleaned once, then looked up)."""
        results = [await cleaned_copy(self.db, self.store, item.sha256, item.mime) for item in evidence if item.is_file]
        return sum(isinstance(r, Unsafe) for r in results)

    async def _kept_notice(self, chat_id: int, case: Case, kept: int, reply: ReplyParameters | None) -> None:
        _ = gettext_for(self.locale)
        await self.bot.send_message(chat_id, _(
            "Case {number}: {count} file(s) kept for moderators. They cannot be made safe to forward "
            "(they could identify the reporter); moderators can view them with /lihat {number} in a "
            "private chat with the bot.").format(number=case.number, count=kept), reply_parameters=reply)

    async def _edit_case(self, delivery: Delivery) -> None:
        loaded = await self._card(delivery)
        if loaded is None or loaded[2] is None:
            return
        data, _evidence, message_id = loaded
        text, markup = render(data, self.locale, int(delivery.address))
        await self.bot.edit_message_text(text, chat_id=int(delivery.address), message_id=message_id,
                                         parse_mode=ParseMode.HTML, reply_markup=markup,
                                         link_preview_options=NO_PREVIEW)

    # --- plain messages: notifications, alerts, relays ------------------------------------

    async def _send(self, delivery: Delivery, progress: Progress) -> None:
        payload = delivery.payload
        chat_id = int(delivery.address)
        if payload.get("holder_only") and delivery.case_id is not None:
            async with self.db.reading() as tx:
                post = await case_posts.in_chat(tx, delivery.case_id, chat_id)
            if post is None or not post.active:
                raise Dropped("the group no longer holds the case")
        locale = str(payload.get("locale") or self.locale)
        reply_to = payload.get("reply_to")
        reply = ReplyParameters(int(reply_to), allow_sending_without_reply=True) if reply_to else None
        if payload.get("case_file"):
            await self._send_case_file(delivery, Order.from_dict(payload["case_file"]), reply)
            return
        parts: list[dict[str, Any]] = [kwargs for r in payload.get("replies", [])
                                       for kwargs in messages(from_dict(r), locale)]
        pick = payload.get("pick")
        if pick and parts and "text" in parts[0]:  # the answer to a press shows what was picked
            parts[0]["text"] = _with_pick(str(pick), parts[0]["text"])
        for index, kwargs in enumerate(parts):
            if index < delivery.progress:
                continue
            method = kwargs.pop("_method", "send_message")
            if index == 0 and payload.get("edit") and method == "send_message" \
                    and await self._edit_into(chat_id, int(payload["edit"]), kwargs):
                await progress(1, int(payload["edit"]))
                continue
            sent: Message = await getattr(self.bot, method)(chat_id=chat_id, reply_parameters=reply, **kwargs)
            await progress(index + 1, sent.message_id)
        evidence = payload.get("evidence") or []
        if evidence and delivery.progress <= len(parts):
            async with self.db.reading() as tx:
                case = await cases.get(tx, delivery.case_id) if delivery.case_id else None
            if case is not None:
                items = [_loose_evidence(case.id, n, e) for n, e in enumerate(evidence, start=1)]
                batches = _batches(items)
                self._room_for(chat_id, sum(_calls(b) for b in batches) + 1)  # one part: all of it, or later
                kept = await self._unsafe_count(items)
                for n, batch in enumerate(batches, start=1):
                    await self._send_evidence(chat_id, case, batch, int(reply_to) if reply_to else None, 1, 1,
                                              kept_notice=kept if n == len(batches) else 0)
            await progress(len(parts) + 1, None)

    async def _send_case_file(self, delivery: Delivery, order: Order, reply: ReplyParameters | None) -> None:
        """Generated here, not in the handler: the press is answered at once, and the file
        (with its hash in the audit trail) is made once however often sending is retried."""
        _ = gettext_for(self.locale)
        chat_id = int(delivery.address)
        made = await self.case_files.for_delivery(delivery.id, order)
        if made == ALREADY_SENT:
            return
        if made is None or isinstance(made, str):
            await self.bot.send_message(chat_id, _("The case file could not be made: this case is not (or no "
                                                   "longer) assigned to this chat."), reply_parameters=reply)
            return
        caption = _("Case file {number} · SHA-256 {sha256}").format(number=made.number, sha256=made.sha256)
        try:
            await self.bot.send_document(chat_id, InputFile(made.data, filename=made.file_name), caption=caption,
                                         reply_parameters=reply)
        except (BadRequest, Forbidden):  # never sent as it is: keep no copy
            await self.case_files.done(delivery.id)
            raise
        await self.case_files.done(delivery.id)

    async def _edit_into(self, chat_id: int, message_id: int, kwargs: dict[str, Any]) -> bool:
        """The pressed question becomes the answer to the press (the next question), so a
        press costs one message call, not a new message plus an edit of the old one. Only a
        text with buttons under it (or none) can replace a message: a request for a contact
        or a location needs a new message. False: send it as a new message instead (the
        message is too old to edit, or gone)."""
        markup = kwargs.get("reply_markup")
        if markup is not None and not isinstance(markup, (InlineKeyboardMarkup, ReplyKeyboardRemove)):
            return False
        try:
            await self.bot.edit_message_text(
                kwargs["text"], chat_id=chat_id, message_id=message_id,
                reply_markup=markup if isinstance(markup, InlineKeyboardMarkup) else None)
        except BadRequest as exc:
            if UNCHANGED in exc.message.lower():
                return True  # already done: this reply is being sent again after a crash
            log.info("could not turn the pressed message into the answer: %s", exc.message)
            return False
        return True


def _kind(item: Evidence, cleaned: Cleaned) -> str:
    """How a cleaned file goes out: as the kind the reporter sent it, unless Telegram would
    refuse it as a photo (over 10 MB, or sides adding up to more than 10,000 pixels)."""
    if item.kind == "video" and cleaned.mime.startswith("video/"):
        return "video"
    if item.kind == "audio" and cleaned.mime in VOICE_MIMES:
        return "voice"  # a voice note, played in the chat
    if item.kind == "audio" and cleaned.mime in AUDIO_MIMES:
        return "audio"
    if item.kind == "photo" and cleaned.mime.startswith("image/") and len(cleaned.data) <= PHOTO_MAX_BYTES \
            and (cleaned.width or 0) + (cleaned.height or 0) <= PHOTO_MAX_SIDES:
        return "photo"
    return "document"


def _calls(batch: list[Evidence]) -> int:
    """The Bot API calls a batch takes at most: an album, or its files one by one."""
    visual = sum(1 for e in batch if e.kind in VISUAL)
    return min(visual, 1) + len(batch) - visual


def _input_media(kind: str, data: bytes, name: str, caption: str | None) -> Any:
    media = {"photo": InputMediaPhoto, "video": InputMediaVideo}.get(kind, InputMediaDocument)
    # Bytes become a separate upload part ("attach://..."), named after the case.
    return media(data, caption=caption, filename=name)


def _with_pick(pick: str, text: str) -> str:
    marked = f"» {pick}\n\n{text}"
    return marked if units(marked) <= MAX_TEXT else text


def _batches(evidence: list[Evidence]) -> list[list[Evidence]]:
    """Photos and videos in albums of up to ten; documents and recordings one by one. Links
    and forwarded messages are no files: the card lists them."""
    visual = [e for e in evidence if e.kind in VISUAL]
    documents = [e for e in evidence if e.kind not in VISUAL and e.is_file]
    return [visual[i:i + ALBUM_SIZE] for i in range(0, len(visual), ALBUM_SIZE)] + [[d] for d in documents]


def _loose_evidence(case_id: int, position: int, item: dict[str, Any]) -> Evidence:
    size = item.get("size")
    position = int(item.get("position") or position)
    return Evidence(0, case_id, position, str(item["kind"]), str(item["ref"]), item.get("unique_ref"),
                    item.get("mime"), size if isinstance(size, int) else None, item.get("sha256"),
                    item.get("file_name"), "")
