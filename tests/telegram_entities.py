"""What Telegram makes tappable in a message's text by itself, for the fake Bot API: bot
commands, mentions, hashtags and cashtags, found the way TDLib's `find_entities` finds them
(td/telegram/MessageEntity.cpp: `match_bot_commands`, `match_mentions`, `match_hashtags`,
`match_cashtags`; the Bot API server runs TDLib), and lengths counted in UTF-16 code units
as the Bot API counts them. URLs are found more simply than TDLib does (an explicit
http(s) scheme and a dotted host): an entity inside one is dropped, as TDLib drops the later
of two entities that overlap."""

from __future__ import annotations

import html
import re
import unicodedata
from html.parser import HTMLParser

SHORT_USERNAMES = frozenset({"ya", "gif", "wiki", "vid", "bing", "pic", "bold", "imdb", "coub", "like", "vote"})
_URL = re.compile(r"(?i)\b(?:https?://)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
                  r"(?::\d{1,5})?(?:[/?#][^\s<>\"«»\u2000-\u200b\u200e-\u200f\u2016-\u206f]*)?")
_ALNUM_ = re.compile(r"[A-Za-z0-9_]")


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _word(char: str) -> bool:
    """TDLib's is_word_character: a letter, a number or the underscore."""
    return char == "_" or unicodedata.category(char)[0] in ("L", "N")


def _hashtag_letter(char: str) -> bool:
    code = ord(char)
    return (char == "_" or code in (0x200C, 0xB7) or 0xD80 <= code <= 0xDFF
            or unicodedata.category(char)[0] == "L" or unicodedata.category(char) == "Nd")


def _ascii_run(text: str, start: int, allowed: re.Pattern[str]) -> int:
    end = start
    while end < len(text) and allowed.match(text[end]):
        end += 1
    return end


def _commands(text: str) -> list[tuple[int, int]]:
    found = []
    for at, char in enumerate(text):
        if char != "/" or (at and (_word(text[at - 1]) or text[at - 1] in "/<>")):
            continue
        end = _ascii_run(text, at + 1, _ALNUM_)
        if not 1 <= end - at - 1 <= 64:
            continue
        if end < len(text) and text[end] == "@":
            mention_end = _ascii_run(text, end + 1, _ALNUM_)
            if not 3 <= mention_end - end - 1 <= 32:
                continue
            end = mention_end
        if end < len(text) and (_word(text[end]) or text[end] in "/<>"):
            continue
        found.append((at, end))
    return found


def _mentions(text: str) -> list[tuple[int, int]]:
    found = []
    for at, char in enumerate(text):
        if char != "@" or (at and _word(text[at - 1])):
            continue
        end = _ascii_run(text, at + 1, _ALNUM_)
        name = text[at + 1:end]
        if not 2 <= len(name) <= 32 or (end < len(text) and _word(text[end])):
            continue
        if len(name) < 5 and name not in SHORT_USERNAMES:
            continue
        found.append((at, end))
    return found


def _hashtags(text: str) -> list[tuple[int, int]]:
    found = []
    for at, char in enumerate(text):
        if char != "#" or (at and _hashtag_letter(text[at - 1])):
            continue
        end = at + 1
        while end < len(text) and _hashtag_letter(text[end]):
            end += 1
        body = text[at + 1:end]
        if not body or (end < len(text) and text[end] == "#"):
            continue
        if not any(unicodedata.category(c)[0] == "L" for c in body):
            continue
        found.append((at, min(end, at + 1 + 256)))
    return found


def _cashtags(text: str) -> list[tuple[int, int]]:
    found = []
    for at, char in enumerate(text):
        if char != "$" or (at and (_hashtag_letter(text[at - 1]) or text[at - 1] == "$")):
            continue
        if text.startswith("1INCH", at + 1):
            end = at + 6
        else:
            end = at + 1
            while end < len(text) and "A" <= text[end] <= "Z":
                end += 1
        if not 1 <= end - at - 1 <= 8:
            continue
        if end < len(text) and (_hashtag_letter(text[end]) or text[end] == "$"):
            continue
        found.append((at, end))
    return found


def auto_entities(text: str) -> list[dict[str, object]]:
    """The entities Telegram would add to this text by itself, offsets and lengths in
    UTF-16 code units; only the kinds that act (a command sent on a tap, a user notified)."""
    spans = [(start, end, kind) for kind, finder in (("mention", _mentions), ("bot_command", _commands),
                                                      ("hashtag", _hashtags), ("cashtag", _cashtags))
             for start, end in finder(text)]
    urls = [(m.start(), m.end()) for m in _URL.finditer(text)]
    kept = [s for s in spans if not any(u_start < s[1] and s[0] < u_end and u_start <= s[0] for u_start, u_end in urls)]
    return [{"type": kind, "offset": utf16_units(text[:start]), "length": utf16_units(text[start:end]),
             "text": text[start:end]} for start, end, kind in sorted(kept)]


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible_text(text: str, parse_mode: str | None) -> str:
    """The text a chat shows: with `parse_mode` HTML the tags go and the entities are decoded."""
    if (parse_mode or "").upper() != "HTML":
        return text
    parser = _Text()
    parser.feed(text)
    parser.close()
    return html.unescape("".join(parser.parts))
