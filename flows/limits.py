"""Abuse limits: how many messages a minute one reporter may send (counted in memory, in
front of the database, so a flood costs the others nothing) and how many cases a day."""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

from flows.policy import Policy
from storage import Database, Tx, flood, reporters
from storage.case_queries import submitted_since

WINDOW = timedelta(minutes=1)
MAX_TRACKED = 100_000


class FloodGate:
    """A sliding one-minute window per sender. `check` returns "ok", "warn" (the first
    message over the limit: tell them once) or "drop"."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._seen: dict[tuple[str, str], deque[datetime]] = {}

    def check(self, key: tuple[str, str], at: datetime) -> str:
        if self.per_minute <= 0:
            return "ok"
        if len(self._seen) > MAX_TRACKED:
            self._forget(at)
        times = self._seen.setdefault(key, deque())
        while times and at - times[0] >= WINDOW:
            times.popleft()
        times.append(at)
        if len(times) <= self.per_minute:
            return "ok"
        return "warn" if len(times) == self.per_minute + 1 else "drop"

    def would_accept(self, key: tuple[str, str], at: datetime) -> bool:
        """Whether a message at `at` would be "ok", without counting it (a channel asks before
        it stores a file)."""
        if self.per_minute <= 0:
            return True
        times = self._seen.get(key, ())
        return sum(1 for t in times if at - t < WINDOW) < self.per_minute

    def _forget(self, at: datetime) -> None:
        for key in [k for k, t in self._seen.items() if not t or at - t[-1] >= WINDOW]:
            del self._seen[key]


class SharedFloodGate:
    """The same gate counted in the database, for several workers: a sender whose messages
    land on different workers is still limited once. This worker's own count comes first,
    so a flood that is already over the limit here costs no database call."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.local = FloodGate(per_minute)

    async def check(self, db: Database, key: tuple[str, str], at: datetime) -> str:
        if self.per_minute <= 0:
            return "ok"
        if self.local.check(key, at) == "drop":
            return "drop"
        count = await flood.hit(db, key[0], key[1], at, self.per_minute + 2)
        if count <= self.per_minute:
            return "ok"
        return "warn" if count == self.per_minute + 1 else "drop"

    async def would_accept(self, db: Database, key: tuple[str, str], at: datetime) -> bool:
        """Whether a message at `at` would be "ok", counted across workers, without counting it."""
        if self.per_minute <= 0:
            return True
        if not self.local.would_accept(key, at):
            return False
        return await flood.recent(db, key[0], key[1], at) < self.per_minute


async def cases_today_reached(tx: Tx, policy: Policy, channel: str, address: str, at: datetime) -> bool:
    """Whether this reporter already sent `max_cases_per_day` cases in the last 24 hours."""
    if policy.max_cases_per_day <= 0:
        return False
    reporter = await reporters.find(tx, channel, address)
    if reporter is None:
        return False
    return await submitted_since(tx, reporter.id, (at - timedelta(days=1)).isoformat()) >= policy.max_cases_per_day
