"""Telegram's length limits, in Telegram's units: the Bot API counts a message's text (after
HTML parsing) and a caption in UTF-16 code units, so an emoji or any character outside the
Basic Multilingual Plane counts twice. Counting Python characters let a 2,000-emoji
description make a card Telegram refused."""

from __future__ import annotations

from bot.plain_text import split_text

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_ALERT = 200
"""The text of an answer to a button press."""


def units(text: str) -> int:
    """Length in UTF-16 code units."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def cut(text: str, limit: int, ellipsis: str = "…") -> str:
    """The longest start of `text` within `limit` units (with `ellipsis` when cut)."""
    if units(text) <= limit:
        return text
    room = limit - units(ellipsis)
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > room:
            return text[:index] + ellipsis
    return text


def split(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Pieces of at most `limit` units, cut where `split_text` cuts."""
    return split_text(text, limit, units)
