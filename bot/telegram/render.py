"""Flow replies as Bot API calls: options become an inline keyboard whose button data is
the option id (with the prompt token); a request for a contact or a location becomes a
reply keyboard with the native button."""

from __future__ import annotations

from typing import Any

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.telegram.inbound import callback_data
from bot.telegram.text_limits import MAX_TEXT, split
from flows.i18n import gettext_for
from flows.replies import ChoicesReply, MediaReply, Reply, TextReply

SHORT_LABEL = 16


def _inline(reply: ChoicesReply) -> InlineKeyboardMarkup:
    buttons = [InlineKeyboardButton(o.label, callback_data=callback_data(reply.token, o.id))
               for o in reply.options]
    short = all(len(o.label) <= SHORT_LABEL for o in reply.options)
    width = 2 if short and len(buttons) > 3 else 1
    return InlineKeyboardMarkup([buttons[i:i + width] for i in range(0, len(buttons), width)])


def _request_keyboard(reply: ChoicesReply, locale: str) -> ReplyKeyboardMarkup:
    _ = gettext_for(locale)
    if reply.request == "contact":
        native = KeyboardButton(_("Share my phone number"), request_contact=True)
    else:
        native = KeyboardButton(_("Send a location"), request_location=True)
    rows = [[native], *([KeyboardButton(o.label)] for o in reply.options)]
    return ReplyKeyboardMarkup(rows, one_time_keyboard=True, resize_keyboard=True)


def _text_of(reply: ChoicesReply) -> str:
    described = [o for o in reply.options if o.description]
    if not described:
        return reply.text
    lines = "\n".join(f"• {o.label}: {o.description}" for o in described)
    return f"{reply.text}\n\n{lines}"


def messages(reply: Reply, locale: str) -> list[dict[str, Any]]:
    """Keyword arguments for one `send_message` (or `send_photo`/`send_document`) each."""
    if isinstance(reply, MediaReply):
        method = "send_photo" if reply.kind == "photo" else "send_document"
        return [{"_method": method, reply.kind if reply.kind == "photo" else "document": reply.ref,
                 "caption": reply.caption}]
    if isinstance(reply, TextReply):
        return [{"text": part} for part in split(reply.text, MAX_TEXT)]
    parts = split(_text_of(reply), MAX_TEXT)
    if reply.request:
        markup: Any = _request_keyboard(reply, locale)
    elif reply.options:
        markup = _inline(reply)
    else:
        markup = ReplyKeyboardRemove()
    return [{"text": part} for part in parts[:-1]] + [{"text": parts[-1], "reply_markup": markup}]
