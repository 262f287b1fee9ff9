"""The record of inbound updates already processed, so a redelivery changes nothing, at any
age: the processed-update rows (channel, id, time, and a keyed hash of the message) are
pruned after 7 days, and their hashes (`digest`, 16 bytes) are then kept in
`message_digests` for 400 days. A replay of a message is recognised by its row while there
is one, and by its digest after.

The hash is written with the row (rows are appended in the order messages come, so a step
pays no more than before) and moved in bulk by the retention clean-up (`move_to_digests`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from storage.database import Tx, among, utc
from storage.sealing import DigestKey

DIGEST_BYTES = 16
"""Of HMAC-SHA-256: 128 bits, so two different messages never meet (a few bytes a message)."""
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def digest(key: DigestKey, channel: str, address: str, update_id: str) -> bytes:
    """What is remembered of a processed message: a keyed hash of its channel, chat and id.
    The chat is part of it because Telegram may start its update ids afresh (at random)
    after a week without updates: only the same chat's same id is the same message."""
    return key.digest(f"{channel}\x1f{address}\x1f{update_id}".encode())[:DIGEST_BYTES]


def day_of(at: str) -> int:
    """Days since 1970-01-01 (UTC): how old a digest is, to the day."""
    moment = datetime.fromisoformat(at)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH).days


async def count(tx: Tx) -> int:
    async with tx.execute("SELECT count(*) FROM processed_updates") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def processed_among(tx: Tx, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these (channel, update_id) pairs have a processed-update row, in one query."""
    if not keys:
        return set()
    condition, params = among(tx, ("channel", "update_id"), keys)
    rows = await tx.execute_fetchall(f"SELECT channel, update_id FROM processed_updates WHERE {condition}", params)
    return {(row[0], row[1]) for row in rows}


async def seen_among(tx: Tx, digests: list[bytes]) -> set[bytes]:
    """Which of these messages were processed longer ago than the rows are kept, in one query."""
    if not digests:
        return set()
    marks = ", ".join("?" for _ in digests)
    rows = await tx.execute_fetchall(f"SELECT digest FROM message_digests WHERE digest IN ({marks})", digests)
    return {bytes(row[0]) for row in rows}


async def claim(tx: Tx, channel: str, update_id: str, at: str, remembered: bytes | None = None) -> bool:
    """Record one update as processed; False if it already was, at any age. On PostgreSQL
    a second worker claiming the same update waits for the first one's commit, then gets False."""
    if remembered is not None and await seen_among(tx, [remembered]):
        return False
    async with tx.execute("INSERT INTO processed_updates (channel, update_id, processed_at, digest)"
                          " VALUES (?, ?, ?, ?) ON CONFLICT (channel, update_id) DO NOTHING",
                          (channel, update_id, at, remembered)) as cur:
        return cur.rowcount == 1


async def claim_many(tx: Tx, rows: Sequence[tuple[str, str, str] | tuple[str, str, str, bytes | None]]) -> None:
    """Record (channel, update_id, processed_at[, digest]) rows as processed (the time in
    UTC, so that the retention clean-up can compare it as stored)."""
    if not rows:
        return
    await tx.executemany(
        "INSERT INTO processed_updates (channel, update_id, processed_at, digest) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (channel, update_id) DO NOTHING",
        [_claim_row(*row) for row in rows]
    )


def _claim_row(channel: str, update_id: str, at: str, digest: bytes | None = None) -> tuple[str, str, str, bytes | None]:
    return channel, update_id, _utc_or_as_is(at), digest


def _utc_or_as_is(at: str) -> str:
    try:
        return utc(at)
    except ValueError:
        return at


def _day_or_today(at: str) -> int:
    try:
        return day_of(at)
    except ValueError:
        return day_of(datetime.now(UTC).isoformat())


async def remember(tx: Tx, rows: list[tuple[bytes, int]]) -> None:
    """Record (digest, day) pairs in the long-kept table directly (tests, the clean-up)."""
    if rows:
        await tx.executemany("INSERT INTO message_digests (digest, day) VALUES (?, ?) ON CONFLICT (digest) DO NOTHING", rows)


async def move_to_digests(tx: Tx, before: str, limit: int) -> int:
    """Processed-update rows older than `before` go, their digests into `message_digests`
    in the same transaction (so there is no moment a replay would pass). Returns how many
    rows went."""
    rows = await tx.execute_fetchall(
        "SELECT channel, update_id, processed_at, digest FROM processed_updates WHERE processed_at < ? LIMIT ?",
        (utc(before), limit))
    if not rows:
        return 0
    await remember(tx, sorted((bytes(row[3]), _day_or_today(row[2])) for row in rows if row[3] is not None))
    condition, params = among(tx, ("channel", "update_id"), [(row[0], row[1]) for row in rows])
    await tx.execute(f"DELETE FROM processed_updates WHERE {condition}", params)
    return len(rows)
