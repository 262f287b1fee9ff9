"""The Telegram channel: python-telegram-bot v22 in front of the channel-agnostic flow."""

from typing import Any

from telegram.ext import Application

TelegramApp = Application[Any, Any, Any, Any, Any, Any]
"""PTB's `Application` as `bot/telegram/app.py` builds it. Its type parameters are the types
handlers see in their context (bot, user/chat/bot data, job queue); our one handler
(`channel.py`) reads none of them."""
