"""Case numbers like LN-24-7K3Q9: short enough to read aloud, random enough not to guess.

The alphabet leaves out 0, O, 1 and I, which are easy to mix up when copied by hand.
"""

from __future__ import annotations

import re
from datetime import datetime

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
LENGTH = 5
PATTERN = re.compile(r"^LN-\d{2}-[" + ALPHABET + r"]{5}$")


def make(nonce: int, at: datetime) -> str:
    chars = []
    for _ in range(LENGTH):
        nonce, index = divmod(nonce, len(ALPHABET))
        chars.append(ALPHABET[index])
    return f"LN-{at:%y}-{''.join(chars)}"


def normalize(text: str) -> str | None:
    """A typed case number in canonical form ('ln 24 7k3q9' -> 'LN-24-7K3Q9'), or None."""
    squashed = re.sub(r"[^0-9A-Za-z]", "", text).upper()
    match = re.fullmatch(r"LN(\d{2})([" + ALPHABET + r"]{5})", squashed)
    return f"LN-{match.group(1)}-{match.group(2)}" if match else None
