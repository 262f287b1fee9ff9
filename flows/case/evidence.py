"""Evidence as the flow keeps it (plain dicts in the draft) to the row storage writes, and
how links and forwarded messages read in every display (the reporter's summary and
`/status`, the group card, `/lihat`, the case file, the exports): as text, each link with
the platform named, never as a preview."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from cleaning import links
from flows.i18n import long_datetime
from storage.cases import Evidence, NewEvidence

FILE_KINDS = frozenset({"photo", "video", "document", "audio"})
Item = Mapping[str, Any] | Evidence


def new_evidence(item: Mapping[str, object]) -> NewEvidence:
    def text(key: str) -> str | None:
        value = item.get(key)
        return str(value) if value is not None else None

    size = item.get("size")
    return NewEvidence(
        kind=str(item["kind"]), channel_ref=str(item["ref"]),
        channel_unique_ref=text("unique_ref"), mime=text("mime"),
        size=size if isinstance(size, int) else None,
        sha256=text("sha256"), file_name=text("file_name"),
        url=text("url"), held=bool(item.get("held")), text=text("text"),
        origin=text("origin"), origin_at=text("origin_at"),
    )


def _get(item: Item, key: str) -> Any:
    return item.get(key) if isinstance(item, Mapping) else getattr(item, key, None)


def counts_text(_: Callable[[str], str], ngettext: Callable[[str, str, int], str], items: Iterable[Item]) -> str:
    """"2 files, 1 link, 1 forwarded message", or "none"."""
    kinds = [str(_get(i, "kind")) for i in items]
    files = sum(k in FILE_KINDS for k in kinds)
    found = kinds.count("link")
    forwarded = kinds.count("message")
    parts = []
    if files:
        parts.append(ngettext("{n} file", "{n} files", files).format(n=files))
    if found:
        parts.append(ngettext("{n} link", "{n} links", found).format(n=found))
    if forwarded:
        parts.append(ngettext("{n} forwarded message", "{n} forwarded messages", forwarded).format(n=forwarded))
    return ", ".join(parts) or _("none")


def link_line(_: Callable[[str], str], item: Item, show_held: bool) -> str | None:
    """"Instagram: https://…"; a link not yet cleaned only for those who may see it."""
    url = str(_get(item, "url") or "")
    if _get(item, "held"):
        if not show_held:
            return _("A short link that could not be cleaned yet (kept for the moderators)")
        return _("Short link, NOT cleaned (moderators only, do not forward): {url}").format(url=url)
    return f"{links.label(url)}: {url}"


def message_line(_: Callable[[str], str], item: Item, locale: str, limit: int | None = None) -> str:
    """A forwarded message: where from, when, and what it says."""
    text = " ".join(str(_get(item, "text") or "").split())
    if limit is not None and len(text) > limit:
        text = text[:limit - 1] + "…"
    origin = _get(item, "origin")
    at = _get(item, "origin_at")
    when = long_datetime(datetime.fromisoformat(at), locale) if at else None
    if origin and when:
        head = _("Forwarded message from {origin}, sent {when}").format(origin=origin, when=when)
    elif origin:
        head = _("Forwarded message from {origin}").format(origin=origin)
    elif when:
        head = _("Forwarded message, sent {when}").format(when=when)
    else:
        head = _("Forwarded message")
    return f"{head}: «{text}»"


def lines(_: Callable[[str], str], items: Iterable[Item], locale: str, show_held: bool,
          limit: int | None = None) -> list[str]:
    """Links and forwarded messages, one line each, in the order they came."""
    found: list[str] = []
    for item in items:
        kind = _get(item, "kind")
        if kind == "link":
            line = link_line(_, item, show_held)
            if line:
                found.append(line)
        elif kind == "message":
            found.append(message_line(_, item, locale, limit))
    return found
