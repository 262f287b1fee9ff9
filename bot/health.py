"""Liveness and readiness, for the load balancer and for people.

- `/healthz` (liveness): the process answers and so does the database. A platform restarts
  a worker that fails it.
- `/readyz` (readiness): healthy, and messages are getting out: the oldest delivery that
  could be sent now has waited less than `HEALTH_MAX_BACKLOG_SECONDS`. Deliveries that wait
  for something outside the service (WhatsApp's 24-hour window, a message template, a case
  waiting for a focal point) are reported apart, with their count and oldest age, and never
  make a worker unready: no worker could send them. A load balancer probes this one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot import metrics
from storage import Database, Tx, outbox
from storage.database import fetch_one

log = logging.getLogger(__name__)
HELD_KINDS = ("window", "template", "route")

ReadinessDetail = Callable[[Tx], Awaitable[dict[str, object]]]
READINESS_DETAILS: list[ReadinessDetail] = []
"""More details for `/readyz` (read in the same snapshot), e.g. issue 25's deliveries set
aside after repeated crashes. They inform; they do not make a worker unready."""


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
