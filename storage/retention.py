"""What the retention clean-up deletes, in bounded chunks (each call one chunk, so no
transaction holds the write lock for long). Times are compared in UTC."""

from __future__ import annotations

import json

from storage import dialect
from storage.database import Tx, utc

CHUNK = 2000


async def prune_outbox(tx: Tx, done_before: str) -> int:
    """Messages sent (or given up) before the cutoff go, with what they said and to whom."""
    async with tx.execute(
        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE status IN ('sent', 'failed')"
        " AND done_at < ? LIMIT ?)", (utc(done_before), CHUNK)) as cur:
        return cur.rowcount


async def prune_processed_updates(tx: Tx, before: str) -> int:
    """The rows go; what identifies their messages stays only as digests (`updates.move_to_digests`)."""
    from storage import updates

    return await updates.move_to_digests(tx, before, CHUNK)


async def delete_idle_conversations(tx: Tx, before: str) -> tuple[int, set[str]]:
    """Conversations nobody touched since the cutoff go (a chunk of them): how many, and the
    files their drafts held (to be deleted unless something else refers to them)."""
    rows = await tx.execute_fetchall(
        "SELECT channel, address, files FROM conversations WHERE datetime(updated_at) < datetime(?) LIMIT ?",
        (utc(before), CHUNK))
    files: set[str] = set()
    for _channel, _address, listed in rows:
        try:
            files.update(str(e["sha256"]) for e in json.loads(listed or "[]") if e.get("sha256"))
        except (ValueError, AttributeError, TypeError):
            pass
    await tx.executemany("DELETE FROM conversations WHERE channel = ? AND address = ?",
                         [(row[0], row[1]) for row in rows])
    return len(rows), files


async def prune_contacts(tx: Tx, before: str) -> int:
    """A channel's record of when a number last wrote, for numbers that have not written since
    the cutoff (long outside any reply window) and did not opt out (that must be kept), and
    that belong to no reporter record."""
    async with tx.execute(
        "DELETE FROM contacts WHERE opted_out_at IS NULL AND (last_inbound_at IS NULL OR last_inbound_at < ?)"
        " AND NOT EXISTS (SELECT 1 FROM reporters AS r WHERE r.channel = contacts.channel"
        " AND r.address = contacts.address)", (utc(before),)) as cur:
        return cur.rowcount


async def prune_flood_windows(tx: Tx, before: str) -> int:
    """Flood-gate windows kept in the database (several workers) whose last message is older."""
    return await dialect.of(tx).prune_shared_counters(tx, utc(before))


async def reporters_to_forget(tx: Tx, closed_before: str, idle_before: str) -> list[int]:
    """Reporters to erase, none of them in a conversation (idle ones are deleted first):
    every case of theirs closed before `closed_before`, or no case at all and first seen
    before `idle_before`."""
    rows = await tx.execute_fetchall(
        "SELECT r.id FROM reporters AS r WHERE r.erased_at IS NULL"
        " AND NOT EXISTS (SELECT 1 FROM conversations AS v WHERE v.channel = r.channel AND v.address = r.address)"
        " AND ((EXISTS (SELECT 1 FROM cases AS c WHERE c.reporter_id = r.id)"
        "  AND NOT EXISTS (SELECT 1 FROM cases AS c WHERE c.reporter_id = r.id"
        "   AND (c.status NOT IN ('selesai', 'ditolak') OR datetime(c.updated_at) >= datetime(?))))"
        " OR (NOT EXISTS (SELECT 1 FROM cases AS c WHERE c.reporter_id = r.id)"
        "  AND datetime(r.created_at) < datetime(?)))"
        " LIMIT ?", (utc(closed_before), utc(idle_before), CHUNK))
    return [int(r[0]) for r in rows]


async def referenced_files(tx: Tx, shas: list[str]) -> set[str]:
    """Which of these files something still refers to: an evidence row, a draft, or an
    evidence row whose cleaned copy it is."""
    if not shas:
        return set()
    placeholders = ", ".join("?" for _ in shas)
    sql = dialect.of(tx)
    file_sha = sql.json_text("e.value", "$.sha256")
    rows = await tx.execute_fetchall(
        f"SELECT sha256 FROM evidence WHERE sha256 IN ({placeholders}) AND coalesce(stored_as, '') != 'removed'"
        f" UNION SELECT {file_sha} FROM conversations AS v,"
        f" {sql.json_elements('v.files', '$', 'e')} WHERE {file_sha} IN ({placeholders})"
        f" UNION SELECT f.clean_sha256 FROM cleaned_files AS f JOIN evidence AS o ON o.sha256 = f.sha256"
        f" WHERE f.clean_sha256 IN ({placeholders})",
        [*shas, *shas, *shas])
    return {str(r[0]) for r in rows}


async def prune_message_digests(tx: Tx, before_day: int) -> int:
    """Digests of messages processed before that day (days since 1970-01-01) go."""
    async with tx.execute(
        "DELETE FROM message_digests WHERE digest IN (SELECT digest FROM message_digests WHERE day < ? LIMIT ?)",
        (before_day, CHUNK)) as cur:
        return cur.rowcount
