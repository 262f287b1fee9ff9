"""The outbox: messages to other chats, written in the transaction that decides them and
sent later by the delivery worker, with retries (FixMyStreet's SendReport as a table).
A message's address is stored as its keyed hash (a chat's order, its look-ups) and sealed
beside it; what it says (`payload`) is sealed whole."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from storage import dialect
from storage.database import Tx, fetch_one, utc
from storage.sealing import ERASED, Table

OUTBOX = Table("outbox", sealed=("payload",), hashed={"address": "address_sealed"})
SEND_FLOORS = Table("send_floors", key=("channel", "address"), hashed={"address": None})


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    channel: str
    address: str
    kind: str
    payload: dict[str, Any]
    case_id: int | None
    post_id: int | None
    status: str
    progress: int
    attempts: int
    next_attempt_at: str
    last_error: str | None
    created_at: str
    crashes: int = 0
    """How often the process died while this was in flight (`storage.workers.reclaim`)."""
    leased: bool = False
    """Leased to the caller that queued it (`enqueue_to_send_now`), which sends it itself."""


REPLY = 0
OTHER = 1
"""Priorities: a reply to someone who just wrote goes before news, alerts and group posts
that are due at the same time (`lease_due`)."""
AGING_SECONDS = 10.0
"""...but anything due this long counts as urgent too: a priority, never a starvation."""
ALONE_AFTER = 2
"""Work that was in flight when the process died this many times is tried alone: if it is
what kills the process, the next death is counted against it only. (After one death it
is tried again as usual: most of what was in flight was only there by chance, and sending
it one at a time would hold up everything behind it.)"""

_COLUMNS = ("id, channel, address_sealed, kind, payload, case_id, post_id, status, progress, attempts,"
            " next_attempt_at, last_error, created_at, crashes")


def _delivery(tx: Tx, row: Any) -> Delivery:
    values = list(row)
    address = OUTBOX.open(tx, "address_sealed", values[2])
    values[2] = address if address is not None else ERASED.decode()
    values[4] = payload_of(tx, values[4])
    return Delivery(*values)


def _payload(tx: Tx, payload: dict[str, Any]) -> bytes | None:
    return OUTBOX.seal(tx, "payload", json.dumps(payload, ensure_ascii=False))


def payload_of(tx: Tx, stored: Any) -> dict[str, Any]:
    """A stored payload as the message it is (`{}` once erased)."""
    opened = OUTBOX.open(tx, "payload", stored) if stored is not None and not bytes(stored).startswith(ERASED) \
        else None
    return json.loads(opened) if opened else {}


_queued = 0


def queued() -> int:
    """How many rows were queued for the delivery worker in this process so far: a commit
    that queued none need not wake it (replies sent at once are leased to their sender)."""
    return _queued


def note_queued() -> None:
    """Something became due for the worker other than by a queueing function (leases of a
    dead worker freed)."""
    global _queued
    _queued += 1


async def enqueue(tx: Tx, channel: str, address: str, kind: str, payload: dict[str, Any], at: str, *,
                  case_id: int | None = None, post_id: int | None = None, reply: bool = False) -> int:
    """`reply`: the answer to a message the person just sent (it goes before other work)."""
    global _queued
    row = await fetch_one(
        tx, "INSERT INTO outbox (channel, address, address_sealed, kind, payload, case_id, post_id, next_attempt_at,"
        " created_at, priority) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (channel, OUTBOX.lookup(tx, address), OUTBOX.seal(tx, "address_sealed", address), kind, _payload(tx, payload),
         case_id, post_id, utc(at), utc(at), REPLY if reply else OTHER))
    assert row is not None
    _queued += 1
    return int(row[0])


async def enqueue_to_send_now(tx: Tx, channel: str, address: str, payload: dict[str, Any], at: str,
                              lease_until: str, worker: str | None = None, *, reply: bool = True) -> Delivery:
    """Queue a reply that its step's channel sends itself right after the commit: leased
    to it (to `worker`) at once, in one statement, no extra round trip, unless an older
    message to the same chat is still waiting, which must go first, or the channel asked us
    to hold back (a Retry-After floor); then it is left to the worker. Either way it is in
    the outbox, so a crash before it is recorded as sent sends it again once the worker is
    known to be dead (or the lease runs out). `reply`: the answer to someone who just wrote
    (`REPLY` priority); else a post like any other (a staff answer in a group)."""
    global _queued
    hashed = OUTBOX.lookup(tx, address)
    row = await fetch_one(
        tx, "INSERT INTO outbox (channel, address, address_sealed, kind, payload, next_attempt_at, created_at,"
        " leased_until, attempts, leased_by, priority) SELECT ?, ?, ?, 'send', ?, ?, ?,"
        " CASE WHEN waiting THEN NULL ELSE ? END, CASE WHEN waiting THEN 0 ELSE 1 END,"
        " CASE WHEN waiting THEN NULL ELSE ? END, CAST(? AS INTEGER) FROM (SELECT (EXISTS ("
        "  SELECT 1 FROM outbox WHERE channel = ? AND address = ? AND status = 'pending') OR EXISTS ("
        "  SELECT 1 FROM send_floors WHERE channel = ? AND address = ? AND not_before > ?)) AS waiting) AS chat"
        " RETURNING id, leased_until, attempts",
        (channel, hashed, OUTBOX.seal(tx, "address_sealed", address), _payload(tx, payload), utc(at), utc(at),
         utc(lease_until), worker, REPLY if reply else OTHER, channel, hashed, channel, hashed, utc(at)))
    assert row is not None
    if row[1] is None:
        _queued += 1
    return Delivery(int(row[0]), channel, address, "send", payload, None, None, "pending", 0, int(row[2]), utc(at),
                    None, utc(at), leased=row[1] is not None)


async def set_payload(tx: Tx, delivery_id: int, payload: dict[str, Any]) -> None:
    """The content of a message queued empty to hold its place in the chat's order."""
    await tx.execute("UPDATE outbox SET payload = ? WHERE id = ?", (_payload(tx, payload), delivery_id))


def _due(channels: list[str]) -> str:
    return _DUE + f" AND o.channel IN ({', '.join('?' for _ in channels)})"


_DUE = (
    "SELECT id FROM outbox AS o WHERE status = 'pending' AND next_attempt_at <= ?"
    " AND (leased_until IS NULL OR leased_until <= ?)"
    " AND NOT EXISTS (SELECT 1 FROM outbox AS e WHERE e.channel = o.channel AND e.address = o.address"
    "  AND e.status = 'pending' AND e.id < o.id)"
    " AND NOT EXISTS (SELECT 1 FROM send_floors AS f WHERE f.channel = o.channel AND f.address = o.address"
    "  AND f.not_before > ?)"
)
"""Due deliveries that are the oldest pending one of their chat, to an address the channel
has not asked us to leave alone for now (`hold`): a chat's messages keep their order, and
a chat in backoff holds up only itself."""


async def has_due(tx: Tx, now: str, channels: list[str]) -> bool:
    return await fetch_one(tx, _due(channels) + " LIMIT 1", (utc(now), utc(now), utc(now), *channels)) is not None


async def enqueue_coalesced(tx: Tx, channel: str, address: str, key: str, payload: dict[str, Any], at: str,
                            not_before: str, *, kind: str = "send", case_id: int | None = None,
                            post_id: int | None = None, reply: bool = False) -> int:
    """Queue a message that replaces a still-waiting one with the same key (not one being
    sent); it is due at `not_before`, so that a quick series ends up as one message."""
    global _queued
    _queued += 1
    hashed = OUTBOX.lookup(tx, address)
    row = await fetch_one(
        tx, "UPDATE outbox SET payload = ?, next_attempt_at = ? WHERE channel = ? AND address = ?"
        " AND coalesce_key = ? AND status = 'pending' AND leased_until IS NULL RETURNING id",
        (_payload(tx, payload), utc(not_before), channel, hashed, key))
    if row is not None:
        return int(row[0])
    row = await fetch_one(
        tx, "INSERT INTO outbox (channel, address, address_sealed, kind, payload, case_id, post_id, next_attempt_at,"
        " created_at, coalesce_key, priority) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (channel, hashed, OUTBOX.seal(tx, "address_sealed", address), kind, _payload(tx, payload), case_id, post_id,
         utc(not_before), utc(at), key, REPLY if reply else OTHER))
    assert row is not None
    return int(row[0])


async def waiting_with_key(tx: Tx, channel: str, address: str, key: str) -> bool:
    """Whether a message queued with `enqueue_coalesced` under this key still waits (or is
    being sent) for this address."""
    return await fetch_one(tx, "SELECT 1 FROM outbox WHERE channel = ? AND address = ? AND coalesce_key = ?"
                               " AND status = 'pending' LIMIT 1", (channel, OUTBOX.lookup(tx, address), key)) is not None


async def lease_due(tx: Tx, now: str, lease_until: str, limit: int, channels: list[str], *,
                    worker: str | None = None, suspects: bool = False) -> list[Delivery]:
    """Take up to `limit` due deliveries on `channels` for `worker` until `lease_until`:
    replies first, then the rest, each in the order they fell due. A worker that dies
    holding a lease loses it as soon as it is known to be dead (`storage.workers`), at the
    latest when the lease expires, and the delivery is tried again. Workers leasing at the
    same moment skip each other's rows (PostgreSQL). `suspects`: only deliveries that were
    in flight at `ALONE_AFTER` crashes or more, which the worker sends one at a time, alone;
    otherwise only the others.

    The rows are picked in a materialized CTE, not in `WHERE id IN (SELECT … LIMIT n FOR
    UPDATE SKIP LOCKED)`: PostgreSQL may evaluate such a sub-select again for a row another
    transaction changed meanwhile (a delivery recorded as sent) and lease more than `n` (seen:
    15 deliveries in flight under a bound of 8, in the full suite under load). A materialized
    CTE is evaluated once."""
    urgent = (datetime.fromisoformat(utc(now)) - timedelta(seconds=AGING_SECONDS)).isoformat()
    async with tx.execute(  # picked once (see the docstring)
        f"WITH picked AS MATERIALIZED ({_due(channels)} AND o.crashes {'>=' if suspects else '<'} {ALONE_AFTER}"
        " ORDER BY CASE WHEN o.priority = 0 OR o.next_attempt_at <= ? THEN 0 ELSE 1 END, o.next_attempt_at, o.id"
        f" LIMIT ?{dialect.of(tx).skip_locked})"
        " UPDATE outbox SET leased_until = ?, leased_by = ?, attempts = attempts + 1"
        f" WHERE id IN (SELECT id FROM picked) RETURNING {_COLUMNS}",
        (utc(now), utc(now), utc(now), *channels, urgent, limit, utc(lease_until), worker)
    ) as cur:
        rows = await cur.fetchall()
    return sorted((_delivery(tx, r) for r in rows), key=lambda d: d.id)


async def release(tx: Tx, delivery_ids: list[int]) -> None:
    """Give up leases early (a worker shutting down cleanly, a reply that could not be sent
    at once): the worker takes them from here."""
    global _queued
    _queued += 1
    await tx.executemany("UPDATE outbox SET leased_until = NULL, leased_by = NULL WHERE id = ? AND status = 'pending'",
                         [(i,) for i in delivery_ids])


async def wake_address(tx: Tx, channel: str, address: str, now: str) -> None:
    """Messages to this address that were put off (waiting for the person to write) are due;
    those that were held are sendable from now on (their wait counts from now). A floor the
    channel itself asked for (a 429's Retry-After) is kept: they fall due when it ends."""
    global _queued
    _queued += 1
    await tx.execute("UPDATE outbox SET next_attempt_at = coalesce((SELECT f.not_before FROM send_floors AS f"
                     " WHERE f.channel = outbox.channel AND f.address = outbox.address AND f.not_before > ?), ?),"
                     " ready_since = CASE WHEN held_for IS NULL THEN ready_since ELSE ? END, held_for = NULL"
                     " WHERE channel = ? AND address = ? AND status = 'pending' AND next_attempt_at > ?",
                     (utc(now), utc(now), utc(now), channel, OUTBOX.lookup(tx, address), utc(now)))


async def hold(tx: Tx, channel: str, address: str, until: str) -> None:
    """The channel asked us not to write to `address` before `until` (a 429's Retry-After):
    a floor no wake-up, new reply or retry undercuts (a longer floor already set stays).
    The address is kept as its keyed hash only (as the outbox's, which it is joined to)."""
    await tx.execute(
        "INSERT INTO send_floors (channel, address, not_before) VALUES (?, ?, ?) ON CONFLICT (channel, address)"
        " DO UPDATE SET not_before = CASE WHEN excluded.not_before > send_floors.not_before"
        " THEN excluded.not_before ELSE send_floors.not_before END",
        (channel, SEND_FLOORS.lookup(tx, address), utc(until)))


async def floor_of(tx: Tx, channel: str, address: str) -> str | None:
    row = await fetch_one(tx, "SELECT not_before FROM send_floors WHERE channel = ? AND address = ?",
                          (channel, SEND_FLOORS.lookup(tx, address)))
    return str(row[0]) if row else None


async def prune_floors(tx: Tx, now: str) -> int:
    """Floors that have passed (they name an address: kept no longer than needed)."""
    async with tx.execute("DELETE FROM send_floors WHERE not_before <= ?", (utc(now),)) as cur:
        return int(cur.rowcount)


async def mark_sent_many(tx: Tx, delivery_ids: list[int], at: str) -> None:
    """Replies their channel sent itself, recorded together in a later transaction; news
    for the same chats queued meanwhile may go now (the worker is woken)."""
    global _queued
    _queued += 1
    await tx.executemany(
        "UPDATE outbox SET status = 'sent', done_at = ?, leased_until = NULL, leased_by = NULL, last_error = NULL"
        " WHERE id = ? AND status = 'pending'", [(at, i) for i in delivery_ids])


async def set_progress(tx: Tx, delivery_id: int, progress: int) -> None:
    await tx.execute("UPDATE outbox SET progress = ? WHERE id = ?", (progress, delivery_id))


async def mark_sent(tx: Tx, delivery_id: int, at: str) -> None:
    await tx.execute(
        "UPDATE outbox SET status = 'sent', done_at = ?, leased_until = NULL, leased_by = NULL, last_error = NULL"
        " WHERE id = ?", (at, delivery_id))


async def retry_at(tx: Tx, delivery_id: int, at: str, error: str, held: str | None = None) -> None:
    """`held`: what the delivery waits for outside the service (`HELD`), if that is why."""
    await tx.execute(
        "UPDATE outbox SET next_attempt_at = ?, leased_until = NULL, leased_by = NULL, last_error = ?, held_for = ?"
        " WHERE id = ?", (utc(at), error, held, delivery_id))


async def reschedule(tx: Tx, delivery_id: int, at: str) -> None:
    """Not a failure: the delivery waits for its turn (a group's per-minute slot) and gives
    its lease back meanwhile; the try is not counted."""
    global _queued
    _queued += 1
    await tx.execute(
        "UPDATE outbox SET next_attempt_at = ?, leased_until = NULL, leased_by = NULL,"
        " attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END WHERE id = ?", (utc(at), delivery_id))


async def mark_failed(tx: Tx, delivery_id: int, at: str, error: str) -> None:
    await tx.execute(
        "UPDATE outbox SET status = 'failed', done_at = ?, leased_until = NULL, leased_by = NULL, last_error = ?"
        " WHERE id = ?", (at, error, delivery_id))


async def fail_pending_to(tx: Tx, channel: str, address: str, at: str, error: str) -> list[Delivery]:
    """Stop everything still queued for a chat that is gone; returns what was stopped."""
    async with tx.execute(
        "UPDATE outbox SET status = 'failed', done_at = ?, leased_until = NULL, leased_by = NULL, last_error = ?"
        f" WHERE channel = ? AND address = ? AND status = 'pending' RETURNING {_COLUMNS}",
        (at, error, channel, OUTBOX.lookup(tx, address))
    ) as cur:
        return [_delivery(tx, r) for r in await cur.fetchall()]


async def readdress(tx: Tx, channel: str, old: str, new: str) -> None:
    await tx.execute("UPDATE outbox SET address = ?, address_sealed = ? WHERE channel = ? AND address = ?"
                     " AND status = 'pending'",
                     (OUTBOX.lookup(tx, new), OUTBOX.seal(tx, "address_sealed", new), channel, OUTBOX.lookup(tx, old)))


PENDING = "outbox_pending_held"
"""The partial index of pending rows that readiness reads (migration 0015): without
statistics SQLite would walk `outbox_done` over every pending row."""
HELD = ("window", "template")
"""What a delivery may wait for outside the service: WhatsApp's 24-hour window (the person
must write first), or a message template that is not set up."""


async def backlog(tx: Tx) -> tuple[int, str | None]:
    """How many deliveries could be sent now (none is held), and since when the oldest has
    waited: since it was queued, or since it stopped being held."""
    row = await fetch_one(tx, "SELECT count(*), min(coalesce(ready_since, created_at))"
                              f" FROM outbox{dialect.of(tx).indexed_by(PENDING)} WHERE status = 'pending' AND held_for IS NULL")
    return (int(row[0]), row[1]) if row else (0, None)


async def held(tx: Tx) -> dict[str, tuple[int, str]]:
    """Deliveries held for something outside the service: per reason, how many and the oldest."""
    async with tx.execute(f"SELECT held_for, count(*), min(created_at) FROM outbox{dialect.of(tx).indexed_by(PENDING)}"
                          " WHERE status = 'pending' AND held_for IS NOT NULL GROUP BY held_for") as cur:
        return {str(r[0]): (int(r[1]), str(r[2])) for r in await cur.fetchall()}


async def of_case(tx: Tx, case_id: int) -> list[Delivery]:
    async with tx.execute(f"SELECT {_COLUMNS} FROM outbox WHERE case_id = ? ORDER BY id", (case_id,)) as cur:
        return [_delivery(tx, r) for r in await cur.fetchall()]


async def pending_payloads(tx: Tx, channel: str, address: str, case_id: int) -> list[dict[str, Any]]:
    """What is still queued for a chat about a case (a few rows)."""
    rows = await tx.execute_fetchall("SELECT payload FROM outbox WHERE channel = ? AND address = ? AND status = 'pending'"
                                     " AND case_id = ?", (channel, OUTBOX.lookup(tx, address), case_id))
    return [payload_of(tx, r[0]) for r in rows]
