"""Erasing personal data (UU 27/2022 PDP): a reporter's identity and contact leave every
table; their cases stay, without identity. An erased value is not replaced by another
ciphertext: the column is emptied (NULL, or `sealing.ERASED` where one cannot be), so not
even a sealed copy stays. `secure_delete` is on for the connection, so freed pages are
zeroed instead of keeping the old bytes in the file; after an erasure the WAL is truncated
too (`Database.checkpoint_truncate`)."""

from __future__ import annotations

import re

from storage import case_files, dialect
from storage.database import Tx, fetch_one
from storage.outbox import OUTBOX
from storage.reporters import REPORTERS
from storage.sealing import ERASED

MIN_SCRUB_LENGTH = 4
"""Shorter names are not searched for in other messages (they would match everything)."""
SCRUB_BATCH = 1000
_WORDS = re.compile(r"\w+")


async def erase_reporter(tx: Tx, reporter_id: int, at: str) -> int:
    """Remove what identifies the reporter from cases, the reporter record, conversations,
    contacts, every outbox message (to them, or naming them), and processed messages in the
    inbound queue; returns how many cases were made anonymous."""
    row = await fetch_one(tx, "SELECT channel, address, address_sealed FROM reporters WHERE id = ?", (reporter_id,))
    if row is None:
        return 0
    channel, hashed = str(row[0]), bytes(row[1])
    address = REPORTERS.open(tx, "address_sealed", row[2]) if row[2] is not None else None
    traces = await _identity_of(tx, "reporter_id = ?", [reporter_id]) | ({address} if address else set())
    async with tx.execute(
        "UPDATE cases SET reporter_name = NULL, reporter_phone = NULL, identity_mode = 'anonim',"
        " identity_erased_at = ? WHERE reporter_id = ?", (at, reporter_id)
    ) as cur:
        changed = cur.rowcount
    await tx.execute("UPDATE evidence SET file_name = NULL WHERE case_id IN (SELECT id FROM cases"
                     " WHERE reporter_id = ?)", (reporter_id,))  # a file name can carry a name
    await case_files.forget_data_of_reporter(tx, reporter_id)
    await tx.execute("UPDATE reporters SET address = ?, address_sealed = NULL, erased_at = ? WHERE id = ?",
                     (ERASED + f"-{reporter_id}".encode(), at, reporter_id))
    await tx.execute("DELETE FROM conversations WHERE channel = ? AND address = ?", (channel, hashed))
    await tx.execute("DELETE FROM contacts WHERE channel = ? AND address = ?", (channel, hashed))
    await tx.execute("DELETE FROM send_floors WHERE channel = ? AND address = ?", (channel, hashed))
    if address:
        await dialect.of(tx).forget_address(tx, channel, address)
    await tx.execute(
        "UPDATE outbox SET address = ?, address_sealed = NULL, payload = ?, last_error = CASE WHEN status = 'pending'"
        " THEN 'erased' ELSE last_error END, status = CASE WHEN status = 'pending' THEN 'failed' ELSE status END"
        " WHERE channel = ? AND address = ?", (ERASED, ERASED, channel, hashed))
    await scrub_outbox(tx, traces)
    await tx.execute("DELETE FROM inbound_queue WHERE channel = ? AND address = ? AND status != 'pending'",
                     (channel, hashed))
    return changed


async def _identity_of(tx: Tx, where: str, params: list[int]) -> set[str]:
    """The reporter names and phones the matching cases hold."""
    from storage.cases import CASES

    rows = await tx.execute_fetchall(f"SELECT reporter_name, reporter_phone FROM cases WHERE {where}", params)
    return {str(v) for r in rows for v in (CASES.open(tx, "reporter_name", r[0]), CASES.open(tx, "reporter_phone", r[1]))
            if v}


async def scrub_outbox(tx: Tx, traces: set[str]) -> int:
    """Messages to anyone (a staff answer, an alert) that name the reporter lose their text;
    those still waiting are not sent. What they say is sealed, so each is opened here and
    searched for every trace at once: a trace is looked for only in a message that has its
    longest word. Returns how many messages lost their text."""
    wanted = sorted(t for t in traces if len(t) >= MIN_SCRUB_LENGTH)
    if not wanted:
        return 0
    by_word: dict[str, list[str]] = {}
    for trace in wanted:
        words = _WORDS.findall(trace.lower())
        if words:
            by_word.setdefault(max(words, key=len), []).append(trace.lower())
    hits: list[int] = []
    last = 0
    while True:
        rows = await tx.execute_fetchall("SELECT id, payload FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                                         (last, SCRUB_BATCH))
        if not rows:
            break
        last = int(rows[-1][0])
        for delivery_id, payload in rows:
            if payload is None or bytes(payload[:len(ERASED)]) == ERASED:
                continue
            text = OUTBOX.open(tx, "payload", payload).lower()
            found = by_word.keys() & set(_WORDS.findall(text))
            if any(trace in text for word in found for trace in by_word[word]):
                hits.append(int(delivery_id))
    await tx.executemany(
        "UPDATE outbox SET payload = ?, last_error = CASE WHEN status = 'pending' THEN 'erased'"
        " ELSE last_error END, status = CASE WHEN status = 'pending' THEN 'failed' ELSE status END WHERE id = ?",
        [(ERASED, delivery_id) for delivery_id in hits])
    return len(hits)


async def erase_case_identity(tx: Tx, case_ids: list[int], at: str) -> None:
    """The retention period is over: the reporter's name and phone leave these cases."""
    if not case_ids:
        return
    traces: set[str] = set()
    for start in range(0, len(case_ids), 500):
        chunk = case_ids[start:start + 500]
        marks = ", ".join("?" for _ in chunk)
        traces |= await _identity_of(tx, f"id IN ({marks})", chunk)
        await tx.execute(
            "UPDATE cases SET reporter_name = NULL, reporter_phone = NULL, identity_mode = 'anonim',"
            f" identity_erased_at = ? WHERE id IN ({marks})", (at, *chunk))
    await scrub_outbox(tx, traces)
    await case_files.forget_data_of_cases(tx, case_ids)


async def forget_sent(tx: Tx, delivery_id: int) -> None:
    """A message that was sent to an address just erased (the confirmation of the erasure):
    once it is out, its row forgets the address and the text, and the address's contact
    record goes unless the person has started again meanwhile."""
    row = await fetch_one(tx, "SELECT channel, address FROM outbox WHERE id = ?", (delivery_id,))
    if row is None:
        return
    channel, address = str(row[0]), bytes(row[1])
    await tx.execute("UPDATE outbox SET address = ?, address_sealed = NULL, payload = ? WHERE id = ?",
                     (ERASED, ERASED, delivery_id))
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
