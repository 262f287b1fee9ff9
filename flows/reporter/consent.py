"""Consent to the privacy notice: given once per reporter, recorded with the version of the
notice it was given to, asked again only when the notice changes.

`has_agreed` is THE question "has this chat agreed to the current notice?": the engine asks
it (through `standing_among`, for a whole batch) before a step, and a channel asks it before
it keeps anything a person sends.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage import Tx, reporters

NOTICE_VERSION = "2024-11-2"
"""Change it whenever the privacy notice (prompts.welcome) changes in substance: every
reporter is then asked again, once."""

Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Standing:
    """What is on record about a chat before its next step."""

    agreed_at: str | None = None
    """When they agreed to the current notice; None: they have not (or withdrew)."""
    known: bool = False
    """A reporter record exists, so something about them is stored."""


async def standing_among(tx: Tx, keys: list[Key]) -> dict[Key, Standing]:
    """Every key gets an answer; one query for all."""
    found = await reporters.last_consent_among(tx, keys)
    result = {}
    for key in keys:
        last = found.get(key)
        if last is None:
            result[key] = Standing()
        elif last.decision == "given" and last.notice_version == NOTICE_VERSION:
            result[key] = Standing(last.at, known=True)
        else:
            result[key] = Standing(None, known=True)
    return result


async def has_agreed(tx: Tx, channel: str, address: str) -> bool:
    return (await standing_among(tx, [(channel, address)]))[(channel, address)].agreed_at is not None
