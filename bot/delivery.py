"""The delivery worker: sends what the outbox holds, one channel sender per channel, with
retries. Messages to one chat go out in order (only the oldest pending one is taken);
different chats go out concurrently.

A delivery is leased before it is sent and recorded after. If the process dies in
between, the lease expires and the delivery is sent again: at most one duplicate, never
a loss. Multi-part deliveries (a case card and its albums) record each part as it goes.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot import metrics
from bot.background import BackgroundLoop
from bot.logs import address_ref, redact
from flows import retention
from flows.case import deadlines, forwarding, notify, related
from flows.policy import Policy
from storage import Database, locks, outbox, privacy
from storage.evidence_files import EvidenceStore
from storage.outbox import Delivery

log = logging.getLogger(__name__)
RETENTION_EVERY = 3600.0


class Retry(Exception):
    """Try again later: after `after` seconds if the service said so, else with backoff.
    `held`: the delivery waits for something outside the service (`outbox.HELD`), so it
    does not count as a backlog meanwhile."""

    def __init__(self, reason: str, after: float | None = None, held: str | None = None) -> None:
        super().__init__(reason)
        self.after = after
        self.held = held


class Gone(Exception):
    """The chat cannot be reached any more (bot removed or blocked, chat deleted)."""


class Migrated(Exception):
    """The chat has a new address (a group upgraded to a supergroup)."""

    def __init__(self, new_address: str) -> None:
        super().__init__(new_address)
        self.new_address = new_address


class Rejected(Exception):
    """This message can never be sent as it is; other messages to the chat may be."""


class Dropped(Exception):
    """This message must not be sent (the person opted out): not an error."""


Progress = Callable[[int, int | None], Awaitable[None]]
"""(parts sent so far, message id of the part just sent): recorded at once."""


class Sender(Protocol):
    async def deliver(self, delivery: Delivery, progress: Progress) -> None: ...


def _now() -> datetime:
    return datetime.now(UTC)


class DeliveryWorker(BackgroundLoop):
    name = "delivery-worker"

    def __init__(self, db: Database, policy: Policy, senders: dict[str, Sender], *,
                 lease_seconds: float = 60.0, batch: int = 32, poll_seconds: float = 1.0,
                 deadline_every: float = 60.0, base_backoff: float = 2.0, max_backoff: float = 600.0,
                 clock: Callable[[], datetime] = _now, store: EvidenceStore | None = None) -> None:
        super().__init__(poll_seconds)
        self.db = db
        self.store = store
        self.policy = policy
        self.senders = senders
        self.lease = timedelta(seconds=lease_seconds)
        self.batch = batch
        self.deadline_every = deadline_every
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.clock = clock
        self.sent = 0
        self.failures: dict[str, int] = {}
        self._last_deadlines: float | None = None
        self._last_retention: float | None = None
        self._in_flight: set[int] = set()
        self._woken_at = -1
        self.on_sent: Callable[[list[int]], None] | None = None
        """Where replies sent at once (`deliver_now`) are recorded (the engine's next
        transaction); None: each is recorded in a transaction of its own."""
        db.on_commit(self.wake)

    def wake(self) -> None:
        """After a commit: a round only if something was queued for the worker since the
        last wake (steps whose replies their channel sends itself queue nothing for it)."""
        queued = outbox.queued()
        if queued != self._woken_at:
            self._woken_at = queued
            super().wake()

    async def deliver_now(self, delivery: Delivery) -> None:
        """Send a reply leased to the caller straight after its step committed, with the
        worker's handling of failures (retry, gone, rejected). Progress is not recorded
        part by part: a crash sends the whole reply again once its lease runs out."""

        async def untracked(parts: int, message_id: int | None) -> None:
            return None

        self._in_flight.add(delivery.id)
        try:
            await self._deliver(delivery, untracked)
        finally:
            self._in_flight.discard(delivery.id)

    async def stopped(self) -> None:
        """Deliveries cut off midway are released at once for the next process (one of
        them may then be sent twice); only a crash leaves them to the lease."""
        self.db.remove_on_commit(self.wake)
        if self._in_flight:
            async with self.db.transaction() as tx:
                await outbox.release(tx, sorted(self._in_flight))
            self._in_flight.clear()

    async def before_round(self) -> None:
        """Timed jobs ride on the worker: deadlines every `deadline_every`, the retention
        clean-up (`flows/retention.py`) at start and then every hour, on the worker's clock. With
        several workers on one database each job runs in one of them at a time (a job lock);
        what it did is marked in the data, so the next worker's round finds nothing left to do."""
        now = asyncio.get_running_loop().time()
        if self._last_deadlines is None or now - self._last_deadlines >= self.deadline_every:
            self._last_deadlines = now
            await self.check_deadlines()
        if self._last_retention is None or now - self._last_retention >= RETENTION_EVERY:
            self._last_retention = now
            await retention.run(self.db, self.policy, self.clock(), self.store)

    async def check_deadlines(self) -> tuple[int, int]:
        async with self.db.transaction() as tx:
            if not await locks.job(tx, "deadlines"):
                return 0, 0  # another worker is on it
            return await deadlines.run_due(tx, self.policy, self.clock())

    async def run_once(self) -> int:
        """Link new cases to related ones (before their cards go), then send what is due
        now; returns how many deliveries were attempted."""
        now = self.clock()
        await related.link_waiting(self.db, now.isoformat())
        async with self.db.reading() as tx:  # a read first: an idle round commits nothing
            if not await outbox.has_due(tx, now.isoformat(), list(self.senders)):
                return 0
        async def lease() -> list[Delivery]:
            async with self.db.transaction() as tx:
                taken = await outbox.lease_due(tx, now.isoformat(), (now + self.lease).isoformat(), self.batch,
                                               list(self.senders))
            self._in_flight.update(d.id for d in taken)  # left there if we are cancelled: see `stop`
            return taken

        due = await self.taking(lease())
        if due:
            await asyncio.gather(*(self._deliver(d) for d in due))
            self._in_flight.difference_update(d.id for d in due)
        return len(due)

    async def _deliver(self, delivery: Delivery, progress: Progress | None = None) -> None:
        sender = self.senders[delivery.channel]  # only channels we have a sender for are leased

        async def recorded(parts: int, message_id: int | None) -> None:
            async with self.db.transaction() as tx:
                await outbox.set_progress(tx, delivery.id, parts)
                if delivery.kind == "post_case" and parts == 1 and message_id is not None:
                    assert delivery.case_id is not None and delivery.post_id is not None
                    await forwarding.post_delivered(tx, delivery.case_id, delivery.post_id, message_id,
                                                    self.clock().isoformat())

        progress = progress or recorded
        try:
            await sender.deliver(delivery, progress)
        except Retry as exc:
            await self._retry(delivery, str(exc), exc.after, exc.held)
        except Migrated as exc:
            log.info("delivery %s: chat %s moved to %s", delivery.id, address_ref(delivery.address),
                     address_ref(exc.new_address))
            async with self.db.transaction() as tx:
                await forwarding.chat_migrated(tx, int(delivery.address), int(exc.new_address))
                await outbox.retry_at(tx, delivery.id, self.clock().isoformat(), "migrated")
        except Gone as exc:
            self._count(delivery, "gone")
            await self._gone(delivery, str(exc))
        except Rejected as exc:
            await self._rejected(delivery, str(exc))
        except Dropped as exc:
            log.info("delivery %s (%s to %s) dropped: %s", delivery.id, delivery.channel, address_ref(delivery.address),
                     redact(str(exc)))
            async with self.db.transaction() as tx:
                await outbox.mark_failed(tx, delivery.id, self.clock().isoformat(), f"dropped: {exc}")
        except Exception as exc:  # a bug or an unexpected answer: keep the message, try later
            log.exception("delivery %s failed unexpectedly", delivery.id)
            await self._retry(delivery, f"{type(exc).__name__}: {exc}", None)
        else:
            self.sent += 1
            metrics.DELIVERIES.labels(delivery.channel).inc()
            metrics.LAST_SUCCESS.mark(delivery.channel)
            forget = bool(delivery.payload.get("forget_after_send"))
            if delivery.leased and self.on_sent is not None and not forget:
                self.on_sent([delivery.id])  # recorded with the next step: no round trip of its own
                return
            async with self.db.transaction() as tx:
                await outbox.mark_sent(tx, delivery.id, self.clock().isoformat())
                if forget:  # the confirmation of an erasure: the address goes now that it is out
                    await privacy.forget_sent(tx, delivery.id)
            if forget:
                await self.db.checkpoint_truncate()

    async def _rejected(self, delivery: Delivery, error: str) -> None:
        """Never retried: the same request would fail the same way. A case card that cannot
        be posted is a job for moderators."""
        self._count(delivery, "rejected")
        log.error("delivery %s (%s, %s to %s) rejected: %s", delivery.id, delivery.kind, delivery.channel,
                  address_ref(delivery.address), redact(error))
        at = self.clock().isoformat()
        async with self.db.transaction() as tx:
            await outbox.mark_failed(tx, delivery.id, at, error)
            if delivery.kind == "post_case":
                _ = notify.staff_gettext(self.policy)
                await notify.moderators(tx, self.policy, at, _(
                    "A case could not be posted to group {chat}: {error}").format(
                        chat=await notify.chat_label(tx, self.policy, int(delivery.address)), error=error),
                    delivery.case_id)

    def _count(self, delivery: Delivery, reason: str) -> None:
        self.failures[reason] = self.failures.get(reason, 0) + 1
        metrics.DELIVERY_FAILURES.labels(delivery.channel, reason).inc()

    async def _retry(self, delivery: Delivery, reason: str, after: float | None, held: str | None = None) -> None:
        self._count(delivery, held or ("retry_after" if after is not None else "transient"))
        if after is None:
            after = min(self.max_backoff, self.base_backoff * 2 ** max(delivery.attempts - 1, 0))
            after *= random.uniform(0.5, 1.5)  # jitter: retries of many messages do not come back together
        log.warning("delivery %s (%s to %s) failed (%s); next try in %.1fs",
                    delivery.id, delivery.channel, address_ref(delivery.address), redact(reason), after)
        async with self.db.transaction() as tx:
            await outbox.retry_at(tx, delivery.id, (self.clock() + timedelta(seconds=after)).isoformat(), reason,
                                  held)

    async def _gone(self, delivery: Delivery, reason: str) -> None:
        at = self.clock().isoformat()
        log.error("delivery %s: %s chat %s is unreachable: %s", delivery.id, delivery.channel,
                  address_ref(delivery.address), redact(reason))
        async with self.db.transaction() as tx:
            if delivery.channel == notify.GROUP_CHANNEL and delivery.address.lstrip("-").isdigit() \
                    and int(delivery.address) < 0:
                await forwarding.chat_gone(tx, self.policy, int(delivery.address), reason, at)
            else:  # a person who blocked the bot: nothing to re-route, nothing else to stop
                await outbox.mark_failed(tx, delivery.id, at, reason)
