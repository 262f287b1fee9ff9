"""Replies as plain text, for channels without buttons (the console, WhatsApp): options
become a numbered list, and the flow accepts the number, "1." or the label typed out."""

from __future__ import annotations

import re
from collections.abc import Callable

from flows.case import case_number
from flows.case.notify import STATUS_TOKEN
from flows.events import Command
from flows.i18n import N_, gettext_for
from flows.replies import ChoicesReply, MediaReply, Reply, TextReply
from flows.reporter.report import COMMANDS
from flows.reporter.status import STATUS_CHOICE

CONSOLE_LOCATION = N_("(To send a location, type: lokasi -8.65, 115.21)")
_STATUS = re.compile(r"^/?(status|cek)\s+(\S.*)$", re.IGNORECASE)


def command_of(text: str) -> Command | None:
    """Commands as a plain-text channel gets them: "/batal", a message that is just a
    command word ("batal"), or "status LN-24-7K3Q9" as the news messages suggest; a word
    inside a sentence is not a command."""
    text = text.strip()
    if re.fullmatch(r"/[A-Za-z_]+(?:@\w+)?(?:\s.*)?", text, re.DOTALL):
        name, _, args = text[1:].partition(" ")
        return Command(name.split("@")[0].lower(), args.strip())
    word = text.casefold()
    if word in COMMANDS:
        return Command(word, "")
    status = _STATUS.match(text)
    if status and case_number.normalize(status.group(2)) is not None:
        return Command(status.group(1).lower(), status.group(2).strip())
    return None


def split_text(text: str, limit: int, measure: Callable[[str], int] = len) -> list[str]:
    """Pieces within a channel's length limit (as `measure` counts it: Telegram counts UTF-16
    code units), cut at a paragraph end, else a line end, else a space, and only inside a
    word when a word is longer than the limit."""
    parts: list[str] = []
    while measure(text) > limit:
        fits = _fitting(text, limit, measure)
        cut = text.rfind("\n\n", 0, fits)
        if cut <= 0:
            cut = text.rfind("\n", 0, fits)
        if cut <= 0:
            cut = text.rfind(" ", 0, fits)
        if cut <= 0:
            cut = max(1, fits)
        parts.append(text[:cut])
        text = text[cut:].lstrip("\n ")
    parts.append(text)
    return parts


def _fitting(text: str, limit: int, measure: Callable[[str], int]) -> int:
    """How many characters of `text` fit in `limit` (`len`: `limit` itself)."""
    if measure is len:
        return limit
    low, high = 0, min(len(text), limit)
    while low < high:  # the largest prefix within the limit
        middle = (low + high + 1) // 2
        if measure(text[:middle]) <= limit:
            low = middle
        else:
            high = middle - 1
    return low


def render(reply: Reply, locale: str, location_hint: str = CONSOLE_LOCATION) -> str:
    """`location_hint` is a message id: how to send a pin on this channel."""
    _ = gettext_for(locale)
    if isinstance(reply, TextReply):
        return reply.text
    if isinstance(reply, MediaReply):
        return f"[{reply.kind}] {reply.ref}" + (f"\n{reply.caption}" if reply.caption else "")
    if reply.token == STATUS_TOKEN:
        return _out_of_step(reply, locale)
    lines = [reply.text]
    for number, option in enumerate(reply.options, start=1):
        extra = f" - {option.description}" if option.description else ""
        lines.append(f"  {number}. {option.label}{extra}")
    if len(reply.options) > 1:
        lines.append(_("(Reply with a number from 1 to {n}.)").format(n=len(reply.options)))
    if reply.request == "location":
        lines.append(_(location_hint))
    return "\n".join(lines)


def _out_of_step(reply: ChoicesReply, locale: str) -> str:
    """A message sent outside the conversation (news about a case): a number typed in
    answer would be read against the current question, so its option is spelled out as
    the command to type."""
    _ = gettext_for(locale)
    lines = [reply.text]
    for option in reply.options:
        if option.id.startswith(STATUS_CHOICE):
            number = option.id.removeprefix(STATUS_CHOICE)
            lines.append(_("To check it, send: status {number}").format(number=number))
    return "\n\n".join(lines)
