"""Workers (the processes that lease work) and what a dead one leaves behind.

Every lease names the worker holding it: deliveries (`outbox`), WhatsApp messages being
handled (`inbound_queue`), and the replies a channel sends itself after a step. A worker
that is known to be dead loses its leases at once, not when their time runs out:

- PostgreSQL: every worker writes a heartbeat; one whose heartbeat is older than a few
  seconds is dead, and the next heartbeat of another worker reclaims its leases.
- SQLite: one process serves the file, so a starting process reclaims every lease it
  finds (whoever held it is gone).

Reclaiming counts a crash against each piece of work: it was running when the process
died. Work that reached `MAX_CRASHES` is not tried again but set aside (`flows.set_aside`).
Telegram updates are not leased (Telegram sends an update again until it is answered): an
update that carries a file is counted as its handling starts (`count_attempt`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from storage import inbound_queue, outbox
from storage.database import Tx, fetch_one, utc
from storage.inbound_queue import QueuedInbound
from storage.outbox import Delivery

MAX_CRASHES = 3
SET_ASIDE = "set aside: the process died {crashes} times while this was in flight"


@dataclass
class Reclaimed:
    freed: int = 0
    """Leases given back (the work is tried again, once at a time: see `crashes`)."""
    deliveries: list[Delivery] = field(default_factory=list)
    inbound: list[QueuedInbound] = field(default_factory=list)
    """What reached `MAX_CRASHES` and is set aside (no longer pending)."""


async def beat(tx: Tx, worker_id: str, at: str) -> None:
    """This worker is alive (and registered, the first time)."""
    await tx.execute("INSERT INTO workers (id, started_at, heartbeat_at) VALUES (?, ?, ?) ON CONFLICT (id)"
                     " DO UPDATE SET heartbeat_at = excluded.heartbeat_at", (worker_id, utc(at), utc(at)))


async def leave(tx: Tx, worker_id: str) -> None:
    """A clean stop: the worker gave back its leases and is gone."""
    await tx.execute("DELETE FROM workers WHERE id = ?", (worker_id,))


async def reclaim(tx: Tx, me: str, at: str, stale_before: str | None) -> Reclaimed:
    """Free the leases of dead workers, counting a crash against each, and forget them.
    `stale_before` (PostgreSQL): a worker is dead when it wrote no heartbeat since then, or
    has no row at all; None (SQLite, a starting process): every worker but `me` is."""
    if stale_before is None:
        held = "leased_until IS NOT NULL AND (leased_by IS NULL OR leased_by != ?)"
        params: tuple[object, ...] = (me,)
    else:
        held = ("leased_by IS NOT NULL AND NOT EXISTS (SELECT 1 FROM workers AS w WHERE w.id = leased_by"
                " AND w.heartbeat_at >= ?)")
        params = (utc(stale_before),)
    error = SET_ASIDE.format(crashes=MAX_CRASHES)
    gone = ("CASE WHEN crashes + 1 >= ? THEN 'failed' ELSE status END",
            "CASE WHEN crashes + 1 >= ? THEN ? ELSE {column} END")
    async with tx.execute(
        f"UPDATE outbox SET crashes = crashes + 1, leased_until = NULL, leased_by = NULL, status = {gone[0]},"
        f" done_at = {gone[1].format(column='done_at')}, last_error = {gone[1].format(column='last_error')}"
        f" WHERE status = 'pending' AND {held} RETURNING {outbox._COLUMNS}",
        (MAX_CRASHES, MAX_CRASHES, utc(at), MAX_CRASHES, error, *params)
    ) as cur:
        deliveries = [outbox._delivery(r) for r in await cur.fetchall()]
    async with tx.execute(
        f"UPDATE inbound_queue SET crashes = crashes + 1, leased_until = NULL, leased_by = NULL,"
        f" status = {gone[0]}, last_error = {gone[1].format(column='last_error')}"
        f" WHERE status = 'pending' AND {held} RETURNING {inbound_queue._COLUMNS}, status",
        (MAX_CRASHES, MAX_CRASHES, error, *params)
    ) as cur:
        rows = [list(r) for r in await cur.fetchall()]
    inbound = [inbound_queue._row(r[:-1]) for r in rows if r[-1] == "failed"]
    if stale_before is None:
        await tx.execute("DELETE FROM workers WHERE id != ?", (me,))
    else:
        await tx.execute("DELETE FROM workers WHERE heartbeat_at < ? AND id != ?", (utc(stale_before), me))
    return Reclaimed(len(deliveries) + len(rows), [d for d in deliveries if d.status == "failed"], inbound)


async def count_attempt(tx: Tx, channel: str, update_id: str, at: str) -> int:
    """One more try at handling this update; how many there were, this one included. An
    update is sent again only when no answer reached Telegram, so every earlier try died."""
    row = await fetch_one(
        tx, "INSERT INTO update_attempts (channel, update_id, attempts, started_at) VALUES (?, ?, 1, ?)"
        " ON CONFLICT (channel, update_id) DO UPDATE SET attempts = update_attempts.attempts + 1,"
        " started_at = excluded.started_at RETURNING attempts", (channel, update_id, utc(at)))
    assert row is not None
    return int(row[0])


async def prune_attempts(tx: Tx, before: str) -> int:
    async with tx.execute("DELETE FROM update_attempts WHERE started_at < ?", (utc(before),)) as cur:
        return int(cur.rowcount)


async def record_set_aside(tx: Tx, kind: str, channel: str, case_id: int | None, crashes: int, at: str) -> None:
    """What was set aside, without identifiers: for `/healthz` and `python -m bot check`."""
    await tx.execute("INSERT INTO set_aside (kind, channel, case_id, crashes, at) VALUES (?, ?, ?, ?, ?)",
                     (kind, channel, case_id, crashes, utc(at)))


async def set_aside_counts(tx: Tx, since: str) -> dict[str, tuple[int, str]]:
    """Per kind: how many were set aside since `since`, and when the last one was."""
    rows = await tx.execute_fetchall("SELECT kind, count(*), max(at) FROM set_aside WHERE at >= ? GROUP BY kind"
                                     " ORDER BY kind", (utc(since),))
    return {str(r[0]): (int(r[1]), str(r[2])) for r in rows}
