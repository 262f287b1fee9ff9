"""Sends outbox deliveries with the Telegram Bot API and translates its errors into the
worker's vocabulary (retry later, chat gone, chat migrated, message rejected)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from telegram import (
    Bot,
    InlineKeyboardMarkup,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
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

from bot.delivery import Gone, Migrated, Progress, Rejected, Retry
from bot.telegram.case_card import CardData, render
from bot.telegram.render import MAX_TEXT, messages
from flows.i18n import gettext_for
from flows.replies import from_dict
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


class TelegramSender:
    def __init__(self, bot: Bot, db: Database, store: EvidenceStore, locale: str) -> None:
        self.bot = bot
        self.db = db
        self.store = store
        self.locale = locale

    async def deliver(self, delivery: Delivery, progress: Progress) -> None:
        try:
            if delivery.kind == "post_case":
                await self._post_case(delivery, progress)
            elif delivery.kind == "edit_case":
                await self._edit_case(delivery)
            else:
                await self._send(delivery, progress)
        except RetryAfter as exc:
            after = exc.retry_after
            raise Retry("retry_after", after.total_seconds() if isinstance(after, timedelta) else float(after)) from exc
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
            case = await cases.get(tx, delivery.case_id)
            post = await case_posts.get(tx, delivery.post_id)
            if case is None or post is None:
                return None
            evidence = await cases.evidence_of(tx, case.id)
            last = await cases.last_actor(tx, case.id)
        return CardData(case, len(evidence), last, post.active), evidence, post.message_id

    async def _post_case(self, delivery: Delivery, progress: Progress) -> None:
        """Part 0 is the card; parts 1.. are the evidence batches, each recorded when sent."""
        loaded = await self._card(delivery)
        if loaded is None:
            return
        data, evidence, card_id = loaded
        chat_id = int(delivery.address)
        if delivery.progress == 0:
            text, markup = render(data, self.locale)
            sent = await self.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup,
                                               disable_web_page_preview=True)
            card_id = sent.message_id
            await progress(1, card_id)
        batches = _batches(evidence)
        for index, batch in enumerate(batches, start=1):
            if index < delivery.progress:
                continue
            await self._send_evidence(chat_id, data.case, batch, card_id, index, len(batches))
            await progress(index + 1, None)

    async def send_case_evidence(self, chat_id: int, case: Case) -> None:
        """All of a case's evidence, cleaned, to a chat (a moderator's `/lihat`)."""
        async with self.db.reading() as tx:
            evidence = await cases.evidence_of(tx, case.id)
        batches = _batches(evidence)
        for index, batch in enumerate(batches, start=1):
            await self._send_evidence(chat_id, case, batch, None, index, len(batches))

    async def _send_evidence(self, chat_id: int, case: Case, batch: list[Evidence], reply_to: int | None,
                             index: int, total: int) -> None:
        _ = gettext_for(self.locale)
        caption = _("Evidence for {number} ({index}/{total})").format(number=case.number, index=index, total=total)
        reply = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
        media = [await self._media(case, item, caption if n == 0 else None) for n, item in enumerate(batch)]
        if len(media) == 1:
            item, kind = media[0], batch[0].kind
            send: Callable[..., Awaitable[Any]] = (
                self.bot.send_photo if kind == "photo" else self.bot.send_video if kind == "video"
                else self.bot.send_document)
            await send(chat_id, item.media, caption=item.caption, reply_parameters=reply)
        else:
            await self.bot.send_media_group(chat_id, media, reply_parameters=reply)  # type: ignore[arg-type]

    async def _media(self, case: Case, item: Evidence, caption: str | None) -> Any:
        """The file to upload: our stored bytes with metadata removed when it is an image;
        a Telegram file id only when we hold no bytes (Telegram re-encodes photos itself)."""
        data = await self.store.get(item.sha256) if item.sha256 else None
        source: Any = item.channel_ref
        name = item.file_name or f"{case.number}-{item.position}"
        if data is not None:
            is_image = item.kind == "photo" or (item.mime or "").startswith("image/")
            from bot.strip_metadata import clean_image_async  # Pillow on first use, not at start-up

            cleaned = await clean_image_async(data) if is_image else None
            if cleaned is not None:
                source, ext = cleaned
                name = name.rsplit(".", 1)[0] + ext
            elif not (is_image and case.channel == "telegram"):  # else: Telegram's own re-encoded copy
                source = data
        kind = {"photo": InputMediaPhoto, "video": InputMediaVideo}.get(item.kind, InputMediaDocument)
        # Bytes become a separate upload part ("attach://..."), a file id is passed as is.
        return kind(source, caption=caption, filename=name if isinstance(source, bytes) else None)

    async def _edit_case(self, delivery: Delivery) -> None:
        loaded = await self._card(delivery)
        if loaded is None or loaded[2] is None:
            return
        data, _evidence, message_id = loaded
        text, markup = render(data, self.locale)
        await self.bot.edit_message_text(text, chat_id=int(delivery.address), message_id=message_id,
                                         parse_mode=ParseMode.HTML, reply_markup=markup,
                                         disable_web_page_preview=True)

    # --- plain messages: notifications, alerts, relays ------------------------------------

    async def _send(self, delivery: Delivery, progress: Progress) -> None:
        payload = delivery.payload
        chat_id = int(delivery.address)
        locale = str(payload.get("locale") or self.locale)
        reply_to = payload.get("reply_to")
        reply = ReplyParameters(int(reply_to), allow_sending_without_reply=True) if reply_to else None
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
                for batch in _batches(items):
                    await self._send_evidence(chat_id, case, batch, int(reply_to) if reply_to else None, 1, 1)
            await progress(len(parts) + 1, None)


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


def _with_pick(pick: str, text: str) -> str:
    marked = f"» {pick}\n\n{text}"
    return marked if len(marked) <= MAX_TEXT else text


def _batches(evidence: list[Evidence]) -> list[list[Evidence]]:
    """Photos and videos in albums of up to ten; documents one by one."""
    visual = [e for e in evidence if e.kind in VISUAL]
    documents = [e for e in evidence if e.kind not in VISUAL]
    return [visual[i:i + ALBUM_SIZE] for i in range(0, len(visual), ALBUM_SIZE)] + [[d] for d in documents]


def _loose_evidence(case_id: int, position: int, item: dict[str, Any]) -> Evidence:
    size = item.get("size")
    return Evidence(0, case_id, position, str(item["kind"]), str(item["ref"]), item.get("unique_ref"),
                    item.get("mime"), size if isinstance(size, int) else None, item.get("sha256"),
                    item.get("file_name"), "")
