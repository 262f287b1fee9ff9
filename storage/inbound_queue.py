"""Inbound messages accepted by a webhook and waiting to be processed, in arrival order
per sender. The webhook only inserts; a processor leases, handles and marks them done.
The sender is stored as its keyed hash and sealed beside it; the message (the webhook's
form) sealed whole."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from storage import dialect
from storage.database import Tx, fetch_one, utc
from storage.outbox import ALONE_AFTER
from storage.sealing import Table

INBOUND_QUEUE = Table("inbound_queue", sealed=("payload",), hashed={"address": "address_sealed"})


@dataclass(frozen=True, slots=True)
class QueuedInbound:
    id: int
    channel: str
    address: str
    external_id: str
    payload: dict[str, Any]
    received_at: str
    attempts: int
    crashes: int = 0
    """How often the process died while this message was being handled (`storage.workers`)."""


_COLUMNS = "id, channel, address_sealed, external_id, payload, received_at, attempts, crashes"
_DUE = (
    "SELECT id FROM inbound_queue AS q WHERE status = 'pending' AND channel = ? AND next_attempt_at <= ?"
    " AND (leased_until IS NULL OR leased_until <= ?)"
    " AND NOT EXISTS (SELECT 1 FROM inbound_queue AS e WHERE e.channel = q.channel AND e.address = q.address"
    "  AND e.status = 'pending' AND e.id < q.id)"
)
"""The oldest pending message of each sender: a sender's messages are handled in order."""


def _row(tx: Tx, row: Any) -> QueuedInbound:
    values = INBOUND_QUEUE.opened(tx, _NAMES, row)
    values[4] = json.loads(values[4])
    return QueuedInbound(*values)


_NAMES = tuple(c.strip() for c in _COLUMNS.split(","))


async def add(tx: Tx, channel: str, address: str, external_id: str, payload: dict[str, Any], at: str) -> bool:
    """Queue a message; False when this id was queued before (a webhook retry)."""
    async with tx.execute(
        "INSERT INTO inbound_queue (channel, address, address_sealed, external_id, payload, received_at,"
        " next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (channel, external_id) DO NOTHING",
        (channel, INBOUND_QUEUE.lookup(tx, address), INBOUND_QUEUE.seal(tx, "address_sealed", address), external_id,
         INBOUND_QUEUE.seal(tx, "payload", json.dumps(payload, ensure_ascii=False)), utc(at), utc(at)),
    ) as cur:
        return cur.rowcount == 1


async def has_due(tx: Tx, channel: str, now: str) -> bool:
    return await fetch_one(tx, _DUE + " LIMIT 1", (channel, utc(now), utc(now))) is not None


async def lease_due(tx: Tx, channel: str, now: str, lease_until: str, limit: int, *, worker: str | None = None,
                    suspects: bool = False) -> list[QueuedInbound]:
    """`suspects`: only messages that were being handled when a process died `ALONE_AFTER`
    times or more (the inbox takes those one at a time, alone); otherwise only the others."""
    async with tx.execute(  # picked once, as `storage.outbox.lease_due` says why
        f"WITH picked AS MATERIALIZED ({_DUE} AND q.crashes {'>=' if suspects else '<'} {ALONE_AFTER}"
        f" ORDER BY id LIMIT ?{dialect.of(tx).skip_locked})"
        " UPDATE inbound_queue SET leased_until = ?, leased_by = ?, attempts = attempts + 1"
        f" WHERE id IN (SELECT id FROM picked) RETURNING {_COLUMNS}",
        (channel, utc(now), utc(now), limit, utc(lease_until), worker)
    ) as cur:
        return sorted((_row(tx, r) for r in await cur.fetchall()), key=lambda q: q.id)


async def mark_done(tx: Tx, item_id: int) -> None:
    """A processed message leaves the queue (with the sender's number): a redelivery of it is
    recognised by the engine's processed-update record."""
    await tx.execute("DELETE FROM inbound_queue WHERE id = ?", (item_id,))


async def purge_done(tx: Tx) -> int:
    """Rows left processed by an older version (which kept them, number included)."""
    async with tx.execute("DELETE FROM inbound_queue WHERE status != 'pending'") as cur:
        return cur.rowcount


async def retry_at(tx: Tx, item_id: int, at: str, error: str) -> None:
    await tx.execute("UPDATE inbound_queue SET next_attempt_at = ?, leased_until = NULL, leased_by = NULL,"
                     " last_error = ? WHERE id = ?", (utc(at), error, item_id))


async def release(tx: Tx, item_ids: list[int]) -> None:
    await tx.executemany("UPDATE inbound_queue SET leased_until = NULL, leased_by = NULL WHERE id = ?"
                         " AND status = 'pending'", [(i,) for i in item_ids])
