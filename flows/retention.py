"""The retention clean-up: what is kept for how long. It runs on the delivery worker (at
start, then every hour) with the worker's clock, so tests move `now` instead of waiting.

| what | kept |
| --- | --- |
| what a sent (or given-up) outbox message said, and to whom | `OUTBOX_KEEP_DAYS` (30) after it was done |
| processed-update records (redelivery protection) | 7 days |
| processed WhatsApp messages in the inbound queue | removed once processed |
| conversations (a draft and its files) nobody touched | 30 days |
| a WhatsApp number's last-message time (not an opt-out) | 30 days after its last message |
| a sender's flood-gate window (PostgreSQL, shared by workers) | an hour after its last message |
| a channel's Retry-After floor for an address | until it has passed (an hour at most) |
| the count of tries of a Telegram update with a file | 7 days |
| a reporter's identity on a closed case | `RETENTION_DAYS` (365) after it closed |
| a reporter's address and identity | `RETENTION_DAYS` after their last case closed; 30 days with no case and no conversation |
| original evidence files of a case without identity | replaced by a cleaned copy (the SHA-256 stays) |
| evidence files nothing refers to | deleted after an hour's grace |
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flows.policy import Policy
from flows.reporter import data_rights
from storage import Database, Tx, inbound_queue, locks, outbox, retention, updates, workers
from storage.evidence_files import EvidenceStore

log = logging.getLogger(__name__)
PROCESSED_UPDATES_KEEP = timedelta(days=7)
DIGESTS_KEEP = timedelta(days=400)
"""A keyed hash of every processed message outlives its processed-update row by more than a
year (`storage/updates.py`): a replay at any age in that time changes nothing."""
DRAFT_IDLE = timedelta(days=30)
ORPHAN_GRACE = timedelta(hours=1)
FLOOD_WINDOW_KEEP = timedelta(hours=1)
"""A sender's flood window (PostgreSQL's, shared by workers) once its last message is older."""
MAX_CHUNKS = 500
"""Per kind and run, so one run is bounded; the next run goes on."""


@dataclass
class RetentionRun:
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, what: str, n: int) -> None:
        if n:
            self.counts[what] = self.counts.get(what, 0) + n

    def __str__(self) -> str:
        return ", ".join(f"{what} {n}" for what, n in sorted(self.counts.items())) or "nothing"


async def run(db: Database, policy: Policy, now: datetime, store: EvidenceStore | None = None) -> RetentionRun:
    """One clean-up pass; each chunk is its own short transaction. With several workers on
    one database it runs in one of them at a time (the others skip the round)."""
    async with locks.job_held(db, "retention") as mine:
        if not mine:
            return RetentionRun()
        return await _run(db, policy, now, store)


async def _run(db: Database, policy: Policy, now: datetime, store: EvidenceStore | None) -> RetentionRun:
    done = RetentionRun()
    at = now.isoformat()
    async with db.transaction() as tx:
        done.add("closed cases made anonymous", await data_rights.apply_retention(tx, policy, now))
    for _ in range(MAX_CHUNKS):
        async with db.transaction() as tx:
            idle = await retention.idle_conversations(tx, (now - DRAFT_IDLE).isoformat())
            await retention.delete_conversations(tx, [(channel, address) for channel, address, _ in idle])
        done.add("idle conversations deleted", len(idle))
        if store is not None:
            await _discard(db, store, {sha for _c, _a, shas in idle for sha in shas})
        if len(idle) < retention.CHUNK:
            break
    for _ in range(MAX_CHUNKS):
        async with db.transaction() as tx:
            ids = await retention.reporters_to_forget(tx, (now - policy.retention).isoformat(),
                                                      (now - DRAFT_IDLE).isoformat())
            for reporter_id in ids:
                await data_rights.forget_reporter(tx, reporter_id, at)
        done.add("reporters forgotten", len(ids))
        if len(ids) < retention.CHUNK:
            break
    await _chunked(db, done, "sent messages pruned",
                   lambda tx: retention.prune_outbox(tx, (now - policy.outbox_keep).isoformat()))
    await _chunked(db, done, "processed-update records pruned",
                   lambda tx: retention.prune_processed_updates(tx, (now - PROCESSED_UPDATES_KEEP).isoformat()))
    await _chunked(db, done, "message digests pruned",
                   lambda tx: retention.prune_message_digests(tx, updates.day_of((now - DIGESTS_KEEP).isoformat())))
    async with db.transaction() as tx:
        done.add("processed inbound messages purged", await inbound_queue.purge_done(tx))
        done.add("contact records pruned", await retention.prune_contacts(tx, (now - DRAFT_IDLE).isoformat()))
        done.add("flood windows pruned", await retention.prune_flood_windows(tx, (now - FLOOD_WINDOW_KEEP).isoformat()))
        done.add("send floors passed", await outbox.prune_floors(tx, at))
        done.add("update attempts pruned", await workers.prune_attempts(tx, (now - PROCESSED_UPDATES_KEEP).isoformat()))
    if store is not None:
        done.add("evidence files cleaned", await data_rights.clean_erased_evidence(db, store))

        async def referenced(shas: list[str]) -> set[str]:
            async with db.reading() as tx:
                return await retention.referenced_files(tx, shas)

        done.add("unused evidence files deleted", await store.sweep(referenced, (now - ORPHAN_GRACE).timestamp()))
    if done.counts:
        await db.checkpoint_truncate()  # what was deleted leaves the -wal file too
        log.info("retention: %s", done)
    return done


async def _chunked(db: Database, done: RetentionRun, what: str, work: Callable[[Tx], Awaitable[int]]) -> None:
    for _ in range(MAX_CHUNKS):
        async with db.transaction() as tx:
            n = await work(tx)
        done.add(what, n)
        if n < retention.CHUNK:
            return


async def _discard(db: Database, store: EvidenceStore, shas: set[str]) -> None:
    if not shas:
        return
    async with db.reading() as tx:
        keep = await retention.referenced_files(tx, sorted(shas))
    await store.discard(shas - keep)
