"""Focal-point groups on Telegram: staff commands (`bot/telegram/staff.py`), the case
buttons, and replies to the bot's questions. The rules live in `flows/staff/desk.py`; this maps updates to
them and sends the answers."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from telegram import Bot, CallbackQuery, ForceReply, Message, ReplyParameters, Update
from telegram.error import TelegramError

from bot.logs import address_ref
from bot.telegram.case_card import parse_callback
from bot.telegram.staff import StaffChat
from bot.telegram.text_limits import MAX_ALERT, MAX_TEXT, cut
from flows.case.lifecycle import Actor
from flows.staff.desk import Desk

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
            await self._press(update, query, chat.id, actor, at, bot)
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
                                           message.text or message.caption or "", actor, at)
            if answer is not None:
                if answer.text:
                    await _reply(message, answer.text)
                return True
        return False

    async def _press(self, update: Update, query: CallbackQuery, chat_id: int, actor: Actor, at: str,
                     bot: Bot) -> None:
        parsed = parse_callback(query.data)
        if parsed is None:
            await _answer(query, None)
            return
        case_id, action = parsed
        result = await self.desk.press(str(update.update_id), chat_id, case_id, action, actor, at)
        await _answer(query, result.text)
        if result.prompt is None:
            return
        card = query.message if isinstance(query.message, Message) else None
        try:
            prompt = await bot.send_message(
                chat_id, result.prompt,
                reply_parameters=ReplyParameters(card.message_id, allow_sending_without_reply=True) if card else None,
                reply_markup=ForceReply(selective=True, input_field_placeholder=None),
            )
        except TelegramError as exc:
            log.warning("could not ask for input in chat %s: %s", address_ref(chat_id), type(exc).__name__)
            return
        await self.desk.prompt_sent(case_id, chat_id, prompt.message_id, action, actor, at)


async def _reply(message: Message, text: str) -> None:
    try:
        await message.reply_text(cut(text, MAX_TEXT))
    except TelegramError as exc:
        log.warning("could not reply in chat %s: %s", address_ref(message.chat.id), type(exc).__name__)


async def _answer(query: CallbackQuery, text: str | None) -> None:
    try:
        await query.answer(cut(text, MAX_ALERT) if text else None)
    except TelegramError as exc:
        log.info("could not answer callback query: %s", type(exc).__name__)
