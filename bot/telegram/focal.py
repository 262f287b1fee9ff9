"""Focal-point groups on Telegram: staff commands (`bot/telegram/staff.py`), the case
buttons, and replies to the bot's questions. The rules live in `flows/staff/desk.py`; this
maps updates to them. Their answers are outbox messages, queued with what they change and
sent at once."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from telegram import Bot, CallbackQuery, Message, Update
from telegram.error import TelegramError

from bot.telegram.case_card import parse_callback
from bot.telegram.staff import StaffChat
from bot.telegram.text_limits import MAX_ALERT, cut
from flows.case.lifecycle import Actor
from flows.staff.desk import Desk
from storage.outbox import Delivery

log = logging.getLogger(__name__)


class FocalGroups:
    def __init__(self, desk: Desk, staff: StaffChat | None = None) -> None:
        self.desk = desk
        self.staff = staff

    async def handle(self, update: Update, bot: Bot) -> bool:
        """True when the update was for the desk (handled, or deliberately ignored)."""
        chat = update.effective_chat
        user = update.effective_user
        if chat is None or user is None:
            return False
        actor = Actor(f"telegram:{user.id}", user.full_name)
        at = datetime.now(UTC).isoformat()
        query = update.callback_query
        if query is not None:
            if self.staff is not None and await self.staff.handle(update, bot, private=False):
                return True  # a button under a staff answer (‹ ›, a case, a status)
            await self._press(update, query, chat.id, actor, at)
            return True
        message = update.message
        if message is None:
            return False
        if message.migrate_to_chat_id:
            await self.desk.migrated(chat.id, message.migrate_to_chat_id)
            return True
        if self.staff is not None and await self.staff.handle(update, bot, private=False):
            return True
        replied = message.reply_to_message
        if replied is not None and replied.from_user is not None and replied.from_user.id == bot.id:
            answer = await self.desk.reply(str(update.update_id), chat.id, replied.message_id,
                                           message.text or message.caption or "", actor, at, message.message_id)
            if answer is not None:
                await self._send_now(answer.delivery)
                return True
        return False

    async def _press(self, update: Update, query: CallbackQuery, chat_id: int, actor: Actor, at: str) -> None:
        """A case card's button. The toast answers the press at once; the question an
        action needs is an outbox message queued with the press (a reply to the card)."""
        parsed = parse_callback(query.data)
        if parsed is None:
            await _answer(query, None)
            return
        case_id, action = parsed
        card = query.message.message_id if isinstance(query.message, Message) else None
        result = await self.desk.press(str(update.update_id), chat_id, case_id, action, actor, at, card)
        await _answer(query, result.text)
        await self._send_now(result.delivery)

    async def _send_now(self, delivery: Delivery | None) -> None:
        if self.staff is not None:
            await self.staff.send_now(delivery)


async def _answer(query: CallbackQuery, text: str | None) -> None:
    try:
        await query.answer(cut(text, MAX_ALERT) if text else None)
    except TelegramError as exc:
        log.info("could not answer callback query: %s", type(exc).__name__)
