"""Per-address facts a channel needs: when the person last wrote, and whether they opted out.
The address is stored as its keyed hash only."""

from __future__ import annotations

from dataclasses import dataclass

from storage.database import Tx, fetch_one, utc
from storage.sealing import Table

CONTACTS = Table("contacts", key=("channel", "address"), hashed={"address": None})


@dataclass(frozen=True, slots=True)
class Contact:
    channel: str
    address: str
    last_inbound_at: str | None
    opted_out_at: str | None


async def get(tx: Tx, channel: str, address: str) -> Contact | None:
    row = await fetch_one(tx, "SELECT last_inbound_at, opted_out_at FROM contacts WHERE channel = ? AND address = ?",
                          (channel, CONTACTS.lookup(tx, address)))
    return Contact(channel, address, row[0], row[1]) if row else None


async def seen(tx: Tx, channel: str, address: str, at: str) -> None:
    await tx.execute(
        "INSERT INTO contacts (channel, address, last_inbound_at) VALUES (?, ?, ?)"
        " ON CONFLICT (channel, address) DO UPDATE SET last_inbound_at = CASE WHEN contacts.last_inbound_at IS NULL"
        " OR contacts.last_inbound_at < excluded.last_inbound_at THEN excluded.last_inbound_at"
        " ELSE contacts.last_inbound_at END", (channel, CONTACTS.lookup(tx, address), utc(at)))


async def opt_out(tx: Tx, channel: str, address: str, at: str) -> None:
    await tx.execute(
        "INSERT INTO contacts (channel, address, opted_out_at) VALUES (?, ?, ?)"
        " ON CONFLICT (channel, address) DO UPDATE SET opted_out_at = excluded.opted_out_at",
        (channel, CONTACTS.lookup(tx, address), utc(at)))


async def opt_in(tx: Tx, channel: str, address: str) -> None:
    await tx.execute("UPDATE contacts SET opted_out_at = NULL WHERE channel = ? AND address = ?",
                     (channel, CONTACTS.lookup(tx, address)))
