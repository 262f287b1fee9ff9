"""Liveness and readiness, for the load balancer and for people.

- `/healthz` (liveness): the process answers and so does the database. A platform restarts
  a worker that fails it.
- `/readyz` (readiness): healthy, and messages are getting out: the oldest delivery that
  could be sent now has waited less than `HEALTH_MAX_BACKLOG_SECONDS`. Deliveries that wait
  for something outside the service (WhatsApp's 24-hour window, a message template, a case
  waiting for a focal point) are reported apart, with their count and oldest age, and never
  make a worker unready: no worker could send them. A load balancer probes this one.

Both show more to a caller with the metrics token; readiness then also lists the work set
aside in the last 7 days after the process died on it three times (issue 28's poison
pills, `flows/set_aside.py`). That is a detail for a person to look at, not a reason to
take the worker out of the balancer: the work is no longer tried, and everything else is
served. `set_aside` and `lines` are what `python -m bot check` prints of it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot import metrics
from storage import Database, Tx, outbox, workers
from storage.database import fetch_one

log = logging.getLogger(__name__)
HELD_KINDS = ("window", "template", "route")
RECENT = timedelta(days=7)
"""How far back the work set aside after crashes is reported."""


async def set_aside_in(tx: Tx, now: datetime | None = None) -> dict[str, dict[str, object]]:
    """Per kind of work ("inbound", "delivery:post_case", ...): how many were set aside in
    the last 7 days and when the last one was (no identifiers: kinds, counts, times)."""
    since = (now or datetime.now(UTC)) - RECENT
    counts = await workers.set_aside_counts(tx, since.isoformat())
    return {kind: {"count": count, "last": last} for kind, (count, last) in counts.items()}


async def set_aside(db: Database, now: datetime | None = None) -> dict[str, dict[str, object]]:
    async with db.reading() as tx:
        return await set_aside_in(tx, now)


def lines(summary: dict[str, dict[str, object]]) -> list[str]:
    """One line per kind, or one saying there is none."""
    if not summary:
        return ["set aside (last 7 days): none"]
    return [f"set aside (last 7 days): {item['count']} {kind}, the last at {item['last']}"
            for kind, item in sorted(summary.items())]


async def _set_aside_detail(tx: Tx) -> dict[str, object]:
    return {"set_aside": await set_aside_in(tx)}


ReadinessDetail = Callable[[Tx], Awaitable[dict[str, object]]]
READINESS_DETAILS: list[ReadinessDetail] = [_set_aside_detail]
"""More details for `/readyz` (read in the same snapshot): the work set aside after
repeated crashes, and whatever other parts add. They inform; they do not make a worker
unready."""


@dataclass
class Health:
    ok: bool
    body: dict[str, object] = field(default_factory=dict)

    @property
    def status(self) -> int:
        return 200 if self.ok else 503


def _age(since: str | None, now: datetime) -> float | None:
    if not since:
        return None
    return round((now - datetime.fromisoformat(since)).total_seconds(), 1)


async def liveness(db: Database) -> Health:
    try:
        async with db.reading() as tx:
            await fetch_one(tx, "SELECT 1")
    except Exception as exc:  # noqa: BLE001 - the database is what we cannot work without
        log.error("health check failed: %s", type(exc).__name__)
        return Health(False, {"status": "unhealthy", "database": "unreachable"})
    return Health(True, {"status": "ok", "database": "ok"})


async def readiness(db: Database, max_backlog_seconds: float) -> Health:
    now = datetime.now(UTC)
    try:
        async with db.reading() as tx:
            pending, oldest = await outbox.backlog(tx)
            held = await outbox.held(tx)
            route = await fetch_one(tx, "SELECT count(*), min(updated_at) FROM cases WHERE status = 'menunggu_rute'")
            extra: dict[str, object] = {}
            for detail in READINESS_DETAILS:
                extra.update(await detail(tx))
    except Exception as exc:  # noqa: BLE001 - the database is what we cannot work without
        log.error("readiness check failed: %s", type(exc).__name__)
        return Health(False, {"status": "unhealthy", "database": "unreachable"})
    waiting: dict[str, tuple[int, str | None]] = {kind: held.get(kind, (0, None)) for kind in HELD_KINDS}
    waiting["route"] = (int(route[0]), route[1]) if route else (0, None)
    age = _age(oldest, now)
    last = metrics.LAST_SUCCESS.at.get("telegram")
    body: dict[str, object] = {
        "status": "ok", "database": "ok", "outbox_pending": pending, "oldest_pending_seconds": age,
        "held": {kind: {"count": n, "oldest_seconds": _age(since, now)} for kind, (n, since) in waiting.items()},
        "last_telegram_success_seconds_ago": round(time.time() - last, 1) if last else None, **extra,
    }
    if age is not None and age > max_backlog_seconds:
        body["status"] = "unhealthy"
        return Health(False, body)
    return Health(True, body)
