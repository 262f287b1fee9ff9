"""Reporter text made inert for the chats that staff read: Telegram turns `/command`,
`@username`, `#hashtag` and `$CASHTAG` into something that acts (a tap sends the command in
that group, a mention notifies the person, who may be the one reported), in plain text as
much as in HTML. A word joiner (U+2060, invisible) after the leading sign breaks each of
them: Telegram's entity parser (TDLib's `match_bot_commands`, `match_mentions`,
`match_hashtags`, `match_cashtags`) wants a letter, digit or underscore right after the sign,
and a word joiner is none of these.

Signs inside a link are left alone: the link is what Telegram makes of them (the later of two
overlapping entities is dropped), and a word joiner would break the address officers need
(`https://www.tiktok.com/@akun/video/…`). Only links with an explicit http(s) scheme and a
plain host count, not glued to a letter before it ("カhttps://…" is no link to Telegram), a
subset of what Telegram links, so a sign is never left active by mistake.
"""

from __future__ import annotations

import re

WORD_JOINER = "\u2060"
_LINK = re.compile(r"(?i)(?<!\w)https?://[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.[a-z]{2,63}"
                   r"(?::\d{1,5})?(?:[/?#][a-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*)?")
_LINK_END_TRIMMED = ".:;,('?!`"
"""What Telegram cuts from the end of a link (TDLib's bad_path_end_chars)."""
_SIGN = re.compile(
    r"(?<![A-Za-z0-9_/<>])(/)(?=[A-Za-z0-9_])"  # a command (not after "<", as in "</b>")
    r"|(?<![A-Za-z0-9_])(@)(?=[A-Za-z0-9_])"  # a mention
    r"|(?<![A-Za-z0-9_])(#)(?=[^\s#])"  # a hashtag (its letters are any script's)
    r"|(?<![A-Za-z0-9_$])(\$)(?=[A-Z1])"  # a cashtag ($USD, $1INCH)
)


def inert(text: str) -> str:
    """`text` as it should reach a chat staff read: the same words, nothing that acts."""
    if not any(sign in text for sign in "/@#$"):
        return text
    links = [(link.start(), link.start() + len(link.group(0).rstrip(_LINK_END_TRIMMED)))
             for link in _LINK.finditer(text)]

    def joined(match: re.Match[str]) -> str:
        if any(start <= match.start() < end for start, end in links):
            return match.group(0)
        return match.group(0) + WORD_JOINER

    return _SIGN.sub(joined, text)
