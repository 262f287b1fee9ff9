"""THE logging set-up of every entry point (`python -m bot ...`): logs carry no secrets and
no personal data, at any level, DEBUG included.

- Libraries that log requests or data are held at a floor whatever `LOG_LEVEL` says:
  httpx/httpcore (request URLs, which carry the bot token), python-telegram-bot (whole
  updates and Bot API results at DEBUG), twilio (request bodies), aiosqlite (every SQL
  statement with its parameters at DEBUG), aiohttp's access log (request paths).
- Every record that reaches the handler is then redacted: the configured secrets (bot token,
  Twilio auth token, webhook secret, metrics token, the data key and the key file's), anything
  shaped like a data key (44 characters of url-safe base64), a bot token or a
  `/bot<token>/` URL, credentials in URLs and Authorization headers, phone numbers and any
  long number (Telegram chat and user ids).
- Tracebacks keep their frames but not the exception's message, which may quote input (a
  pydantic error quotes the message text), except for database and OS errors.

Our own code logs a case number, a delivery id, or `address_ref(address)`: a short keyed hash
that lets an operator see that two lines are about the same chat without learning which.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import sqlite3
import sys
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.config import Settings

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FLOORS = {"httpx": logging.WARNING, "httpcore": logging.WARNING, "telegram": logging.INFO,
          "twilio": logging.WARNING, "aiosqlite": logging.INFO, "aiohttp.access": logging.WARNING,
          "hpack": logging.WARNING, "multipart": logging.WARNING, "PIL": logging.INFO,
          "matplotlib": logging.WARNING, "asyncio": logging.INFO}
"""The lowest level at which each library may log."""

_PATTERNS = [
    (re.compile(r"/(file/)?bot[^/\s'\"]+"), r"/\1bot<token>"),
    (re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{20,}\b"), "<token>"),
    (re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}="), "<key>"),
    (re.compile(r"(?i)\b(authorization|x-twilio-signature|x-telegram-bot-api-secret-token)(['\"]?\s*[:=]\s*['\"]?)"
                r"(basic |bearer )?[^\s'\",}]+"), r"\1\2<redacted>"),
    (re.compile(r"(?i)\b(https?://)[^/\s:@]+:[^/\s@]+@"), r"\1<credentials>@"),
    (re.compile(r"\+\d[\d ().-]{6,}\d"), "<phone>"),
    (re.compile(r"(?<![\w.:/-])0\d{2,4}[ -]\d{3,4}[ -]\d{3,5}(?![\w])"), "<phone>"),
    (re.compile(r"(?<![\w.])-?\d{7,}(?![\w])"), "<number>"),
]
_key = secrets.token_bytes(16)
_secrets: list[str] = []


def address_ref(address: object) -> str:
    """A chat, a phone number or a user as a short keyed hash: `#3f9a1c0d`."""
    return "#" + hmac.new(_key, str(address).encode(), hashlib.sha256).hexdigest()[:8]


def redact(text: str) -> str:
    for secret in _secrets:
        text = text.replace(secret, "<secret>")
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _exception_text(exc: BaseException, seen: set[int] | None = None) -> str:
    """A traceback with its frames (code, not data) and the exception types; a message
    only for database and OS errors, whose messages describe the system, not the input."""
    import traceback

    seen = seen if seen is not None else set()
    seen.add(id(exc))
    text = ""
    cause = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    if cause is not None and id(cause) not in seen:
        text = _exception_text(cause, seen) + (
            "\nThe above exception was the direct cause of the following exception:\n\n" if exc.__cause__
            else "\nDuring handling of the above exception, another exception occurred:\n\n")
    message = str(exc) if isinstance(exc, (sqlite3.Error, OSError)) else "(message withheld)"
    name = f"{type(exc).__module__}.{type(exc).__qualname__}".removeprefix("builtins.")
    return (text + "Traceback (most recent call last):\n" + "".join(traceback.format_tb(exc.__traceback__))
            + f"{name}: {message}")


class Redacting(logging.Filter):
    """Rewrites each record before any formatter sees it (message, arguments, traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep the template only
            message = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(_exception_text(record.exc_info[1]))
        elif record.exc_text:
            record.exc_text = "(traceback withheld)"
        record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        record.msg, record.args = redact(message), None
        return True


class _OurHandler(logging.StreamHandler[IO[str]]):
    """The handler `configure_logging` installs, told apart from others' when it replaces itself."""


def _handler_of_ours(handler: logging.Handler) -> bool:
    return isinstance(handler, _OurHandler)


def configure_logging(level: str | int = "INFO", settings: Settings | None = None,
                      stream: IO[str] | None = None) -> logging.Handler:
    """One redacting handler on the root logger (stderr by default), the library floors,
    and the secrets of `settings` to redact. Safe to call again (it replaces itself)."""
    global _key
    number = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(number, int):
        number = logging.INFO
    if settings is not None:
        _secrets[:] = _secrets_of(settings)
        if settings.log_hash_key is not None:
            _key = settings.log_hash_key.get_secret_value().encode()
    root = logging.getLogger()
    for old in [h for h in root.handlers if _handler_of_ours(h)]:
        root.removeHandler(old)
    handler = _OurHandler(stream or sys.stderr)
    handler.addFilter(Redacting())
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(number)
    for name, floor in FLOORS.items():
        logging.getLogger(name).setLevel(max(floor, number))
    return handler


def _secrets_of(settings: Settings) -> list[str]:
    found: list[Any] = [settings.telegram_bot_token, settings.twilio_auth_token, settings.telegram_webhook_secret,
                        settings.metrics_token, settings.log_hash_key, settings.data_key, settings.new_data_key]
    values = [s.get_secret_value() for s in found if s is not None and s.get_secret_value()]
    key_file = settings.key_source().file
    for path in (key_file, key_file.with_name(key_file.name + ".new")):
        try:
            values.append(path.read_text(encoding="ascii").strip())
        except (OSError, UnicodeDecodeError):
            pass
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
    if ":" in token:
        values.append(token.split(":", 1)[1])
    return sorted({v for v in values if len(v) >= 6}, key=len, reverse=True)
