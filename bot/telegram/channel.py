"""Private chats run the report flow; groups never do.

Each update becomes one flow event handled by the engine, which records it as processed in
the same transaction as the new state and the replies (queued in the outbox). Updates of one
chat are handled in arrival order; different chats run concurrently.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from telegram import (
    Bot,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.downloads import Downloads, NotReceived
from bot.logs import address_ref
from bot.telegram.focal import FocalGroups
from bot.telegram.inbound import FileTooLarge, has_file, to_event
from bot.telegram.staff import StaffChat
from bot.telegram.text_limits import MAX_ALERT, cut
from flows.capabilities import Capabilities
from flows.engine import Engine, Handled
from flows.events import Inbound
from flows.i18n import N_, gettext_for, normalize_locale
from flows.replies import ChoicesReply, TextReply
from storage.evidence_files import EvidenceStore
from storage.outbox import Delivery
from storage.workers import MAX_CRASHES

CHANNEL = "telegram"
CAPABILITIES = Capabilities(buttons=True, share_contact=True, name=N_("Telegram"))
log = logging.getLogger(__name__)
WEBHOOK_ANSWER: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("webhook_answer", default=None)
"""Set (to an empty dict) by the webhook while it handles an update: a press is then
answered in the webhook's own response, one Bot API call fewer (`bot/web.py`)."""


class TelegramChannel:
    def __init__(self, engine: Engine, store: EvidenceStore, default_locale: str = "id",
                 focal: FocalGroups | None = None, staff: StaffChat | None = None) -> None:
        self.engine = engine
        self.focal = focal
        self.staff = staff
        self.store = store
        self.default_locale = default_locale
        self._locks: dict[int, asyncio.Lock] = {}
        self.downloads = Downloads()
        """Reporters' files, under the download deadlines (set from the settings at start)."""
        self.deliver_now: Callable[[Delivery], Awaitable[None]] | None = None
        """Sends a step's replies right after the commit (the delivery worker's
        `deliver_now`); None leaves them to the worker's next round."""

    async def on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        if chat.type != "private":
            try:
                if self.focal is None or not await self.focal.handle(update, context.bot):
                    await self._group(update, context.bot)
            except Exception:  # nothing of the update was stored; the officer can try again
                log.exception("group update %s of chat %s could not be handled", update.update_id,
                              address_ref(chat.id))
                _ = gettext_for(self.default_locale)
                await _answer(update.callback_query, _(
                    "Sorry, something went wrong on our side. Nothing you entered was lost; "
                    "please send your last answer again."))
            return
        if update.message is None and update.callback_query is None:
            return  # an edit of an old answer, or the user blocking the bot: not input
        if self.staff is not None and await self.staff.handle(update, context.bot, private=True):
            return
        if self.staff is not None and update.callback_query is not None:
            toast = await self.staff.decide_route(update)
            if toast is not None:  # an admin deciding a route, not a reporter's step
                await _answer(update.callback_query, toast)
                return
        lock = self._locks.setdefault(chat.id, asyncio.Lock())
        try:
            async with lock:
                await self._private(update, context.bot, chat.id)
        finally:
            if not lock.locked() and not lock._waiters:  # nobody waits for this chat: forget its lock
                self._locks.pop(chat.id, None)

    def _locale(self, update: Update) -> str:
        user = update.effective_user
        return normalize_locale(user.language_code if user else None, self.default_locale)

    async def _private(self, update: Update, bot: Bot, chat_id: int) -> None:
        """The engine queues the replies in the outbox with the step (the delivery worker
        sends them), so a crash loses no answer. The files of an album share a reply key:
        the album gets one answer."""
        query = update.callback_query
        message = update.effective_message
        album = message.media_group_id if message is not None and query is None else None
        user = update.effective_user
        try:
            now = datetime.now(UTC)
            if has_file(update) and await self._set_aside(update, chat_id, now):
                return
            room = await self.engine.file_room(CHANNEL, str(chat_id), now) if has_file(update) else 0
            event = await to_event(update, bot, self.store, room, self.downloads)
            inbound = Inbound(CHANNEL, str(chat_id), str(update.update_id), event,
                              now, user.language_code if user else None,
                              reply_key=f"album:{album}" if album else None, caps=CAPABILITIES,
                              reply_extra=_press_extra(query))
            handled = await self.engine.handle(inbound)
        except FileTooLarge:
            _ = gettext_for(self._locale(update))
            await _notice(bot, chat_id, query, _(
                "That file is larger than 20 MB, which Telegram does not let us receive. "
                "Please send a smaller file or a link to it."))
            return
        except NotReceived:  # nothing of this update was stored
            log.info("a file of update %s did not arrive within the download limits", update.update_id)
            _ = gettext_for(self._locale(update))
            await _notice(bot, chat_id, query, _("Sorry, your file did not reach us. Please send it again."))
            return
        except Exception:
            # Nothing of this update was stored, so the conversation is as it was.
            log.exception("update %s of chat %s could not be handled", update.update_id, address_ref(chat_id))
            _ = gettext_for(self._locale(update))
            await _notice(bot, chat_id, query, _(
                "Sorry, something went wrong on our side. Nothing you entered was lost; "
                "please send your last answer again."))
            return
        if handled.duplicate:
            await _answer(query)
            return
        first = handled.replies[0] if handled.stale and handled.replies else None
        stale_text = first.text if isinstance(first, (TextReply, ChoicesReply)) else None
        sending = self._send_now(handled)
        if query is None:
            await sending
        else:  # every press is answered (a stale one with why), at the same time as the reply goes
            await asyncio.gather(_answer(query, stale_text), sending)

    async def _set_aside(self, update: Update, chat_id: int, now: datetime) -> bool:
        """An update with a file is counted before its handling starts (Telegram sends it
        again if we die meanwhile). After `MAX_CRASHES` tries that died it is set aside:
        the reporter is asked to send it another way, and nothing else happens."""
        tries = await self.engine.attempt(CHANNEL, str(update.update_id), now)
        if tries <= MAX_CRASHES:
            return False
        user = update.effective_user
        return await self.engine.set_aside(CHANNEL, str(chat_id), str(update.update_id), now, tries,
                                           user.language_code if user else None)

    async def _send_now(self, handled: Handled) -> None:
        """The step's replies, leased to us in its transaction, go out now (the chat's lock
        is still held, so a chat's replies keep their order); the engine records them as
        sent with its next transaction. Without a lease they wait for the worker."""
        if handled.delivery is not None and self.deliver_now is not None:
            await self.deliver_now(handled.delivery)

    async def _group(self, update: Update, bot: Bot) -> None:
        """Groups belong to focal points: the report flow never runs there. A mention or a
        command for the bot gets a pointer to a private chat."""
        message = update.effective_message
        if message is None or not _addressed_to(message, bot.username):
            return
        _ = gettext_for(self._locale(update))
        link = f"https://t.me/{bot.username}?start=lapor"
        await message.reply_text(
            _("To report, please message me privately. Your report stays confidential there."),
            reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton(_("Report privately"), url=link)]]),
        )


GROUP_COMMANDS = frozenset({"start", "mulai", "lapor", "bantuan", "help"})


def _addressed_to(message: Any, username: str) -> bool:
    """A mention of the bot, a command sent to it by name, or a bare report command."""
    text = (message.text or message.caption or "").strip()
    mention = f"@{username}".lower()
    if mention in text.lower():
        return True
    if not text.startswith("/"):
        return False
    name, _, addressee = text.split()[0][1:].lower().partition("@")
    return addressee == username.lower() or (not addressee and name in GROUP_COMMANDS)


def _press_extra(query: CallbackQuery | None) -> dict[str, object] | None:
    """For the answer to a press: the pressed question, which the answer may replace
    (edited into the next question), and the label picked, shown at the top of it."""
    if query is None or not isinstance(query.message, Message) or not query.message.text:
        return None
    label = _pressed_label(query)
    return {"edit": query.message.message_id, "pick": label} if label else None


def _pressed_label(query: CallbackQuery) -> str | None:
    markup = getattr(query.message, "reply_markup", None)
    for row in getattr(markup, "inline_keyboard", ()) or ():
        for button in row:
            if button.callback_data == query.data:
                return str(button.text)
    return None


async def _notice(bot: Bot, chat_id: int, query: CallbackQuery | None, text: str) -> None:
    """A message outside the flow (the update was not processed); a press is still answered."""
    await _answer(query)
    await bot.send_message(chat_id, text)


async def _answer(query: CallbackQuery | None, text: str | None = None) -> None:
    """Every press must be answered (the button shows a spinner until then): inside the
    webhook's response when there is one, else with its own call."""
    if query is None:
        return
    in_response = WEBHOOK_ANSWER.get()
    if in_response is not None and not in_response:
        in_response.update({"method": "answerCallbackQuery", "callback_query_id": query.id,
                            **({"text": cut(text, MAX_ALERT)} if text else {})})
        return
    try:
        await query.answer(cut(text, MAX_ALERT) if text else None)
    except TelegramError as exc:
        log.info("could not answer callback query: %s", type(exc).__name__)
