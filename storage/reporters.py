"""Reporters: the channel address we answer to, their language, and their consent log.
The address is stored as its keyed hash (found, joined and kept unique by it) and, sealed,
beside it (`address_sealed`), for the messages that must reach it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from storage.database import Tx, among, fetch_one
from storage.sealing import Table

REPORTERS = Table("reporters", hashed={"address": "address_sealed"})


@dataclass(frozen=True, slots=True)
class Reporter:
    id: int
    channel: str
    address: str
    locale: str
    blocked: bool
    created_at: str


async def upsert(tx: Tx, channel: str, address: str, locale: str, at: str) -> int:
    """The reporter's id, creating the row on first use and keeping the language current."""
    async with tx.execute(
        "INSERT INTO reporters (channel, address, address_sealed, locale, created_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (channel, address) DO UPDATE SET locale = excluded.locale"
        " RETURNING id",
        (channel, REPORTERS.lookup(tx, address), REPORTERS.seal(tx, "address_sealed", address), locale, at),
    ) as cur:
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def record_consent(tx: Tx, reporter_id: int | None, decision: str, at: str,
                         notice_version: str | None = None) -> None:
    await tx.execute(
        "INSERT INTO consents (reporter_id, decision, at, notice_version) VALUES (?, ?, ?, ?)",
        (reporter_id, decision, at, notice_version),
    )


@dataclass(frozen=True, slots=True)
class LastConsent:
    """A reporter's latest consent decision (None fields: they never decided)."""

    decision: str | None
    notice_version: str | None
    at: str | None


async def last_consent_among(tx: Tx, keys: list[tuple[str, str]]) -> dict[tuple[str, str], LastConsent]:
    """The latest consent decision of each known reporter among these (channel, address)
    pairs, in one query; a pair with no reporter record is absent."""
    if not keys:
        return {}
    hashed = hashed_keys(tx, keys)
    condition, params = among(tx, ("r.channel", "r.address"), hashed, ("text", "bytea"))
    rows = await tx.execute_fetchall(
        "SELECT r.channel, r.address, c.decision, c.notice_version, c.at FROM reporters AS r"
        " LEFT JOIN consents AS c ON c.id = (SELECT max(id) FROM consents WHERE reporter_id = r.id)"
        f" WHERE {condition}", params)
    return {hashed[(row[0], bytes(row[1]))]: LastConsent(row[2], row[3], row[4]) for row in rows}


def hashed_keys(tx: Tx, keys: list[tuple[str, str]]) -> dict[tuple[str, bytes], tuple[str, str]]:
    """(channel, keyed hash) -> (channel, address) for these pairs: the hashed pairs are what
    a batch's look-ups search for, the plain ones what they give back."""
    return {(channel, tx.keys.lookup(address)): (channel, address) for channel, address in keys}


async def consents(tx: Tx) -> list[tuple[int | None, str, str]]:
    async with tx.execute("SELECT reporter_id, decision, at FROM consents ORDER BY id") as cur:
        return [(row[0], row[1], row[2]) for row in await cur.fetchall()]


async def consents_of(tx: Tx, reporter_id: int) -> list[tuple[str, str]]:
    """One reporter's consent decisions (decision, at), oldest first."""
    async with tx.execute("SELECT decision, at FROM consents WHERE reporter_id = ? ORDER BY id",
                          (reporter_id,)) as cur:
        return [(row[0], row[1]) for row in await cur.fetchall()]


async def count(tx: Tx) -> int:
    async with tx.execute("SELECT count(*) FROM reporters") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


_COLUMNS = "id, channel, address_sealed, locale, blocked, created_at"


def _reporter(tx: Tx, row: Any) -> Reporter:
    address = REPORTERS.open(tx, "address_sealed", row[2])
    return Reporter(row[0], row[1], address if address is not None else "erased", row[3], bool(row[4]), row[5])


async def find(tx: Tx, channel: str, address: str) -> Reporter | None:
    row = await fetch_one(tx, f"SELECT {_COLUMNS} FROM reporters WHERE channel = ? AND address = ?",
                          (channel, REPORTERS.lookup(tx, address)))
    return _reporter(tx, row) if row else None


async def set_locale(tx: Tx, channel: str, address: str, locale: str) -> None:
    await tx.execute(
        "UPDATE reporters SET locale = ? WHERE channel = ? AND address = ?",
        (locale, channel, REPORTERS.lookup(tx, address))
    )


async def get(tx: Tx, reporter_id: int) -> Reporter | None:
    row = await fetch_one(tx, f"SELECT {_COLUMNS} FROM reporters WHERE id = ?", (reporter_id,))
    return _reporter(tx, row) if row else None


async def set_blocked(tx: Tx, reporter_id: int, blocked: bool) -> bool:
    """Returns whether anything changed."""
    async with tx.execute("UPDATE reporters SET blocked = ? WHERE id = ? AND blocked != ?",
                          (int(blocked), reporter_id, int(blocked))) as cur:
        return cur.rowcount == 1


async def blocked_among(tx: Tx, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these (channel, address) pairs belong to blocked reporters, in one query."""
    if not keys:
        return set()
    hashed = hashed_keys(tx, keys)
    condition, params = among(tx, ("channel", "address"), hashed, ("text", "bytea"))
    rows = await tx.execute_fetchall(f"SELECT channel, address FROM reporters WHERE blocked = 1 AND {condition}",
                                     params)
    return {hashed[(row[0], bytes(row[1]))] for row in rows}
