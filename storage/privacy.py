"""Erasing personal data (UU 27/2022 PDP): a reporter's identity and contact leave every
table; their cases stay, without identity. `secure_delete` is on for the connection, so
freed pages are zeroed instead of keeping the old bytes in the file."""

from __future__ import annotations

from storage import dialect
from storage.database import Tx, fetch_one


async def erase_reporter(tx: Tx, reporter_id: int, at: str) -> int:
    """Remove what identifies the reporter; returns how many cases were made anonymous."""
    row = await fetch_one(tx, "SELECT channel, address FROM reporters WHERE id = ?", (reporter_id,))
    if row is None:
        return 0
    channel, address = str(row[0]), str(row[1])
    async with tx.execute(
        "UPDATE cases SET reporter_name = NULL, reporter_phone = NULL, identity_mode = 'anonim',"
        " identity_erased_at = ? WHERE reporter_id = ?", (at, reporter_id)
    ) as cur:
        changed = cur.rowcount
    erased = f"erased-{reporter_id}"
    await tx.execute("UPDATE reporters SET address = ?, erased_at = ? WHERE id = ?", (erased, at, reporter_id))
    await tx.execute("DELETE FROM conversations WHERE channel = ? AND address = ?", (channel, address))
    await tx.execute("DELETE FROM contacts WHERE channel = ? AND address = ?", (channel, address))
    await dialect.of(tx).forget_address(tx, channel, address)
    await tx.execute(
        "UPDATE outbox SET address = ?, payload = '{}', last_error = CASE WHEN status = 'pending' THEN 'erased'"
        " ELSE last_error END, status = CASE WHEN status = 'pending' THEN 'failed' ELSE status END"
        " WHERE channel = ? AND address = ?", (erased, channel, address))
    await tx.execute("UPDATE inbound_queue SET address = ?, payload = '{}' WHERE channel = ? AND address = ?",
                     (erased, channel, address))
    return changed


async def erase_case_identity(tx: Tx, case_ids: list[int], at: str) -> None:
    """The retention period is over: the reporter's name and phone leave these cases."""
    await tx.executemany(
        "UPDATE cases SET reporter_name = NULL, reporter_phone = NULL, identity_mode = 'anonim',"
        " identity_erased_at = ? WHERE id = ?", [(at, case_id) for case_id in case_ids])
