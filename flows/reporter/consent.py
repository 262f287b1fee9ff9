"""Whether a chat has agreed to the terms: the one question every channel asks before it
stores a file (nothing is kept for a person who has not agreed)."""

from __future__ import annotations

from storage import Tx, reporters


async def has_agreed(tx: Tx, channel: str, address: str) -> bool:
    """True when this chat's reporter record exists (it is made when consent is given, and
    its address goes with an erasure) and its latest decision is consent."""
    person = await reporters.find(tx, channel, address)
    if person is None:
        return False
    latest = await reporters.latest_consent(tx, person.id)
    return latest == "given"
