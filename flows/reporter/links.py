"""Links and forwarded messages in what a reporter sends, as the report keeps them.

Every text a step sees has had its links cleaned (`cleaning.links`, pure rules), whichever
channel it came through: this is the flow's own guarantee, on top of the channel's early
cleaning. A share link whose path is the identifier can only be cleaned by following it,
which is the channel's job (`cleaning.short_links`, before the step); one that is still
short here could not be followed. It is taken out of the text (a note stands in its place),
kept as evidence for the moderators only, marked as not yet cleaned, and the reporter is
asked, once per report, for the address their browser shows when they open it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import tzinfo
from typing import Any

from cleaning import links
from flows.events import Event, Forwarded, Media, Text
from flows.i18n import N_
from flows.reporter.conversation import IDLE_STATES, State
from flows.reporter.turn import Turn

HELD_NOTE = N_("[short link kept for the moderators]")
NOT_IN_REPORT = frozenset({*IDLE_STATES, State.CONSENT, State.LANGUAGE, State.CONFIRM_ERASE})
"""States with no report to keep a link in."""


def sweep(turn: Turn, event: Event) -> Event:
    """The event with its text's links cleaned; short links that still need following are
    replaced by a note and noted on the turn (`turn.held_links`)."""
    if isinstance(event, Text):
        return Text(_swept(turn, event.text))
    if isinstance(event, Forwarded):
        return replace(event, text=_swept(turn, event.text))
    if isinstance(event, Media) and event.caption:
        return Media(event.items, _swept(turn, event.caption))
    return event


def _swept(turn: Turn, text: str) -> str:
    out, last = [], 0
    for found in links.find(text):
        cleaned = links.clean(found.url)
        if links.needs_resolving(cleaned):
            turn.held_links.append(cleaned)
            cleaned = turn._(HELD_NOTE)
        out += [text[last:found.start], cleaned]
        last = found.end
    return "".join(out) + text[last:]


def link_item(url: str, held: bool = False) -> dict[str, Any]:
    return {"kind": "link", "ref": url, "url": url, "held": held}


def message_item(event: Forwarded, zone: tzinfo | None = None) -> dict[str, Any]:
    """`zone`: the service's, so the original date reads in local time."""
    at = event.origin_at.astimezone(zone) if event.origin_at and zone else event.origin_at
    return {"kind": "message", "ref": "forwarded", "text": event.text, "origin": event.origin,
            "origin_at": at.isoformat() if at else None, "frequently": event.frequently}


def links_in(text: str) -> list[dict[str, Any]]:
    """The (already cleaned) links of a text as evidence items, each once."""
    urls = dict.fromkeys(found.url for found in links.find(text) if not links.needs_resolving(found.url))
    return [link_item(links.clean(url)) for url in urls]


def ask_for_address(turn: Turn) -> None:
    """Once per report (or per officer's question): what to do about a link we could not open."""
    turn.say(turn._(
        "I could not open that short link safely, so it has not been passed on: it is kept for the "
        "moderators only. Please open it in your browser and send me the full address the browser shows."))
