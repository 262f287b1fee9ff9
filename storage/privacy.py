"""Erasing personal data (UU 27/2022 PDP): a reporter's identity and contact leave every
table; their cases stay, without identity. `secure_delete` is on for the connection, so
freed pages are zeroed instead of keeping the old bytes in the file; after an erasure the
WAL is truncated too (`Database.checkpoint_truncate`)."""

from __future__ import annotations

from storage import case_files, dialect
from storage.database import Tx, fetch_one

MIN_SCRUB_LENGTH = 4
"""Shorter names are not searched for in other messages (they would match everything)."""


async def erase_reporter(tx: Tx, reporter_id: int, at: str) -> int:
    """Remove what identifies the reporter from cases, the reporter record, conversations,
    contacts, every outbox message (to them, or naming them), and processed messages in the
    inbound queue; returns how many cases were made anonymous."""
    row = await fetch_one(tx, "SELECT channel, address FROM reporters WHERE id = ?", (reporter_id,))
    if row is None:
        return 0
    channel, address = str(row[0]), str(row[1])
    named = await tx.execute_fetchall(
        "SELECT reporter_name, reporter_phone FROM cases WHERE reporter_id = ?", (reporter_id,))
    traces = {str(v) for r in named for v in r if v} | {address}
    async with tx.execute(
        "UPDATE cases SET reporter_name = NULL, reporter_phone = NULL, identity_mode = 'anonim',"
        " identity_erased_at = ? WHERE reporter_id = ?", (at, reporter_id)
    ) as cur:
        changed = cur.rowcount
    await tx.execute("UPDATE evidence SET file_name = NULL WHERE case_id IN (SELECT id FROM cases"
                     " WHERE reporter_id = ?)", (reporter_id,))  # a file name can carry a name
    await case_files.forget_data_of_reporter(tx, reporter_id)
    erased = f"erased-{reporter_id}"
    await tx.execute("UPDATE reporters SET address = ?, erased_at = ? WHERE id = ?", (erased, at, reporter_id))
    await tx.execute("DELETE FROM conversations WHERE channel = ? AND address = ?", (channel, address))
    await tx.execute("DELETE FROM contacts WHERE channel = ? AND address = ?", (channel, address))
    await tx.execute("DELETE FROM send_floors WHERE channel = ? AND address = ?", (channel, address))
    await dialect.of(tx).forget_address(tx, channel, address)
    await tx.execute(
        "UPDATE outbox SET address = ?, payload = '{}', last_error = CASE WHEN status = 'pending' THEN 'erased'"
        " ELSE last_error END, status = CASE WHEN status = 'pending' THEN 'failed' ELSE status END"
        " WHERE channel = ? AND address = ?", (erased, channel, address))
    await scrub_outbox(tx, traces)
    await tx.execute("DELETE FROM inbound_queue WHERE channel = ? AND address = ? AND status != 'pending'",
                     (channel, address))
    return changed


async def scrub_outbox(tx: Tx, traces: set[str]) -> None:
    """Messages to anyone (a staff answer, an alert) that name the reporter lose their text;
    those still waiting are not sent."""
    for trace in sorted(t for t in traces if len(t) >= MIN_SCRUB_LENGTH):
        pattern = "%" + trace.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        await tx.execute(
            "UPDATE outbox SET payload = '{}', last_error = CASE WHEN status = 'pending' THEN 'erased'"
            " ELSE last_error END, status = CASE WHEN status = 'pending' THEN 'failed' ELSE status END"
            f" WHERE payload {dialect.of(tx).like} ? ESCAPE '\\'", (pattern,))


async def erase_case_identity(tx: Tx, case_ids: list[int], at: str) -> None:
    """The retention period is over: the reporter's name and phone leave these cases."""
    for case_id in case_ids:
        row = await fetch_one(tx, "SELECT reporter_name, reporter_phone FROM cases WHERE id = ?", (case_id,))
        await tx.execute(
            "UPDATE cases SET reporter_name = NULL, reporter_phone = NULL, identity_mode = 'anonim',"
            " identity_erased_at = ? WHERE id = ?", (at, case_id))
        if row is not None:
            await scrub_outbox(tx, {str(v) for v in row if v})
    await case_files.forget_data_of_cases(tx, case_ids)


async def forget_sent(tx: Tx, delivery_id: int) -> None:
    """A message that was sent to an address just erased (the confirmation of the erasure):
    once it is out, its row forgets the address and the text, and the address's contact
    record goes unless the person has started again meanwhile."""
    row = await fetch_one(tx, "SELECT channel, address FROM outbox WHERE id = ?", (delivery_id,))
    if row is None:
        return
    channel, address = str(row[0]), str(row[1])
    await tx.execute("UPDATE outbox SET address = 'erased', payload = '{}' WHERE id = ?", (delivery_id,))
    await tx.execute(
        "DELETE FROM contacts WHERE channel = ? AND address = ? AND NOT EXISTS (SELECT 1 FROM reporters"
        " WHERE channel = ? AND address = ?) AND NOT EXISTS (SELECT 1 FROM conversations WHERE channel = ?"
        " AND address = ?) AND NOT EXISTS (SELECT 1 FROM outbox WHERE channel = ? AND address = ?"
        " AND status = 'pending')", (channel, address, channel, address, channel, address, channel, address))


async def evidence_to_clean(tx: Tx, limit: int = 100) -> list[tuple[str, str | None]]:
    """Files of cases whose identity was erased that still hold the original (SHA-256, mime)."""
    rows = await tx.execute_fetchall(
        "SELECT e.sha256, max(e.mime) FROM evidence AS e JOIN cases AS c ON c.id = e.case_id"
        " WHERE c.identity_erased_at IS NOT NULL AND e.stored_as IS NULL AND e.sha256 IS NOT NULL"
        " GROUP BY e.sha256 LIMIT ?", (limit,))
    return [(str(r[0]), r[1]) for r in rows]


async def mark_cleaned(tx: Tx, sha256: str, stored_as: str) -> None:
    """Every row with this file: the store holds only the cleaned copy (or nothing) now."""
    await tx.execute("UPDATE evidence SET stored_as = ? WHERE sha256 = ?", (stored_as, sha256))
