"""What the health output says beyond "the database answers": work set aside after the
process died while doing it (issue 28's poison pills). `/healthz` shows it to a caller
with the metrics token; `lines` is what a `python -m bot check` prints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage import Database, workers

RECENT = timedelta(days=7)


async def set_aside(db: Database, now: datetime | None = None) -> dict[str, dict[str, object]]:
    """Per kind of work ("inbound", "delivery:post_case", ...): how many were set aside in
    the last 7 days and when the last one was."""
    since = (now or datetime.now(UTC)) - RECENT
    async with db.reading() as tx:
        counts = await workers.set_aside_counts(tx, since.isoformat())
    return {kind: {"count": count, "last": last} for kind, (count, last) in counts.items()}


def lines(summary: dict[str, dict[str, object]]) -> list[str]:
    """One line per kind, or one saying there is none (no identifiers: kinds, counts, times)."""
    if not summary:
        return ["set aside (last 7 days): none"]
    return [f"set aside (last 7 days): {item['count']} {kind}, the last at {item['last']}"
            for kind, item in sorted(summary.items())]
